package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

  @org.junit.jupiter.api.Test
  void aSliceIsARangeOfItsBaseAndOpsOnItStayInside() {
    Backend b = TestBackends.openCl();
    assertTrue(b.canSlice());
    try (Tensor t = b.fromArray(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 8)) {
      Tensor s = b.slice(t, 2, 2, 2);
      b.fill(s, 0f);
      b.axpy(b.slice(t, 2, 2), 1f, b.slice(t, 6, 2));
      assertArrayEquals(new float[] {1, 2, 7, 8, 0, 0, 7, 8}, b.read(t), "[2, 6) as 2x2 zeroed, then [2, 4) += [6, 8)");
      assertArrayEquals(new float[] {7, 8, 0, 0}, b.read(s));
      s.close();
      assertArrayEquals(new float[] {1, 2, 7, 8, 0, 0, 7, 8}, b.read(t), "closing a slice frees nothing");
      assertThrows(ShapeException.class, () -> b.slice(t, 6, 3));
      assertThrows(ShapeException.class, () -> b.slice(t, -1, 2));
    }
  }

  @org.junit.jupiter.api.Test
  void aBackendWhoseTensorsOwnTheirArraysSaysItCannotSlice() {
    Backend b = new ReferenceBackend();
    assertFalse(b.canSlice());
    try (Tensor t = b.zeros(4)) {
      UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> b.slice(t, 0, 2));
      assertTrue(e.getMessage().contains("cannot slice"), e.getMessage());
    }
  }
}
