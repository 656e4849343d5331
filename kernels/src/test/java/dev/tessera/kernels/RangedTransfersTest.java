package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.kernels.threads.ThreadPoolBackend;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * write(t, array, from) and read(t, array, at), with which collectives move each tensor of a flat
 * vector without copying its part: only that part moves, on every backend, and a part past the
 * array's end is a shape error.
 */
class RangedTransfersTest {

  static Stream<Named<Backend>> backends() {
    return Stream.of(Named.of("reference", new ReferenceBackend()), Named.of("java threads", new ThreadPoolBackend(2)),
        Named.of("OpenCL " + TestBackends.kind().id(), TestBackends.openCl()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void aPartOfAnArrayGoesToTheTensorAndBackIntoAnotherPart(Backend be) {
    float[] flat = Numerics.uniform(new Random(8), 300, -1, 1);
    try (Tensor t = be.zeros(10, 11)) {
      be.write(t, flat, 123);
      assertArrayEquals(Arrays.copyOfRange(flat, 123, 233), be.read(t));
      float[] into = new float[200];
      Arrays.fill(into, 9f);
      be.read(t, into, 40);
      float[] want = new float[200];
      Arrays.fill(want, 9f);
      System.arraycopy(flat, 123, want, 40, 110);
      assertArrayEquals(want, into);
      assertThrows(ShapeException.class, () -> be.write(t, flat, 191));
      assertThrows(ShapeException.class, () -> be.read(t, into, 91));
      assertThrows(ShapeException.class, () -> be.read(t, into, -1));
    }
  }
}
