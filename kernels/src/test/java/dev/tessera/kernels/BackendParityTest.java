package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.check.OpCase;
import dev.tessera.kernels.check.OpCases;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.kernels.threads.ThreadPoolBackend;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every op's forward and backward on the fast backends equals the reference within 1e-5 relative. */
class BackendParityTest {
  static final double TOLERANCE = 1e-5;
  static final long SEED = 42;
  private static final ReferenceBackend REFERENCE = new ReferenceBackend();
  private static final ThreadPoolBackend THREADS = new ThreadPoolBackend(2);

  static Stream<OpCase> cases() {
    return OpCases.all().stream();
  }

  @AfterAll
  static void closeThreads() {
    THREADS.close();
  }

  private static void assertParity(Backend fast, OpCase c) {
    Map<String, float[]> expected = c.runAll(REFERENCE, SEED);
    Map<String, float[]> actual = c.runAll(fast, SEED);
    assertEquals(expected.keySet(), actual.keySet(), c.name());
    for (String key : expected.keySet()) {
      double err = Numerics.relativeError(actual.get(key), expected.get(key));
      assertTrue(err <= TOLERANCE, () -> c.name() + " on " + fast.describe() + ": '" + key
          + "' differs from the reference by " + err + " (relative, max-norm)");
    }
  }

  @ParameterizedTest(name = "OpenCL: {0}")
  @MethodSource("cases")
  void openClMatchesReference(OpCase c) {
    OpenClBackend cl = TestBackends.openCl();
    long before = cl.launches();
    assertParity(cl, c);
    assertTrue(cl.describe().startsWith("OpenCL " + TestBackends.kind().id().toUpperCase()), cl.describe());
    assertTrue(cl.launches() > before, "no OpenCL kernel was launched");
  }

  @ParameterizedTest(name = "Java thread pool: {0}")
  @MethodSource("cases")
  void threadPoolMatchesReference(OpCase c) {
    assertParity(THREADS, c);
  }

  /**
   * Both forms of the device kernel on the device under test: the CPU form (packed matmul tile,
   * fused attention) and the GPU form (in-place matmul tile with split k, attention as matmuls).
   */
  @ParameterizedTest(name = "GPU form of the kernel = {0}")
  @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
  void bothFormsOfTheOpenClKernelMatchTheReference(boolean gpuKernel) {
    TestBackends.openCl();
    try (OpenClBackend cl = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 1 << 20, gpuKernel)) {
      for (OpCase c : OpCases.all()) {
        if (c.name().startsWith("attention") || c.name().startsWith("matmul")) {
          assertParity(cl, c);
        }
      }
      assertParity(cl, OpCases.attention("attention B1 T33 H2 D16", 1, 33, 2, 16));
      // Heads larger than the fused kernels' private accumulators go through the matmul form.
      assertParity(cl, OpCases.attention("attention B1 T9 H1 D136", 1, 9, 1, 136));
      // Tile multiples, ragged edges, and a small C with a long k (split into slices on the GPU form).
      for (int[] mkn : new int[][] {{128, 64, 256}, {256, 256, 256}, {1, 1, 1}, {65, 17, 129}, {3, 300, 2},
          {48, 4100, 40}}) {
        assertParity(cl, OpCases.matmul("matmul " + mkn[0] + "x" + mkn[1] + "x" + mkn[2], new int[] {mkn[0], mkn[1]},
            new int[] {mkn[1], mkn[2]}, new int[] {mkn[0], mkn[2]}, false, false));
      }
      assertParity(cl, OpCases.matmul("matmul batched TN 2x(20x1030x24)", new int[] {2, 1030, 20},
          new int[] {2, 1030, 24}, new int[] {2, 20, 24}, true, false));
    }
  }
}
