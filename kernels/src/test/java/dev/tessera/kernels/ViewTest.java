package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ViewTest {
  static Stream<Backend> backends() {
    return Stream.of(new ReferenceBackend(), TestBackends.openCl());
  }

  @ParameterizedTest
  @MethodSource("backends")
  void aViewSharesStorageAndClosingItFreesNothing(Backend b) {
    try (Tensor t = b.fromArray(new float[] {1, 2, 3, 4, 5, 6}, 2, 3)) {
      Tensor v = b.view(t, 3, 2);
      b.scale(v, 2f);
      assertArrayEquals(new float[] {2, 4, 6, 8, 10, 12}, b.read(t));
      v.close();
      try (Tensor other = b.zeros(6)) {
        b.fill(other, 7f);
        assertArrayEquals(new float[] {2, 4, 6, 8, 10, 12}, b.read(t), "the base is still intact");
      }
      assertThrows(ShapeException.class, () -> b.view(t, 4, 2));
    }
  }
}
