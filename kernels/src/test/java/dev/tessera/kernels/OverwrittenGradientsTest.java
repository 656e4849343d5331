package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.kernels.threads.ThreadPoolBackend;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * geluBackward and attentionBackward overwrite their gradients, and a matmul with beta 0 its output, so
 * the model hands them fresh, unzeroed tensors: gradients that held NaN come out as the reference's (computed into zeros). On
 * every backend and every form of attention: the OpenCL CPU kernel's fused rows (head 16) and its
 * matmuls (head 136), and the GPU kernel's in-place matmuls, run here on the CPU device.
 */
class OverwrittenGradientsTest {
  private static OpenClBackend gpuForm;

  static Stream<Named<Backend>> backends() {
    OpenClBackend cl = TestBackends.openCl();
    if (gpuForm == null) {
      gpuForm = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 1 << 18, true);
    }
    return Stream.of(Named.of("reference", new ReferenceBackend()), Named.of("java threads", new ThreadPoolBackend(2)),
        Named.of("OpenCL " + TestBackends.kind().id(), cl), Named.of("OpenCL, the GPU kernel", gpuForm));
  }

  @AfterAll
  static void closeTheGpuForm() {
    if (gpuForm != null) {
      gpuForm.close();
    }
  }

  private static final ReferenceBackend REF = new ReferenceBackend();

  private static Tensor nans(Backend be, int... dims) {
    Tensor t = be.empty(DType.F32, Shape.of(dims));
    be.fill(t, Float.NaN);
    return t;
  }

  private static void close(String what, float[] want, float[] got) {
    double err = Numerics.relativeError(got, want);
    assertTrue(err < 1e-5, what + ": relative error " + err + " against the reference");
  }

  /** A linear layer's backwardOver is a matmul with beta 0: C's NaN must not leak, with or without split k. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void aMatmulWithBetaZeroIgnoresWhatItsOutputHeld(Backend be) {
    Random rnd = new Random(7);
    for (int[] mkn : new int[][] {{70, 33, 130}, {8, 4096, 8}}) {
      int m = mkn[0];
      int k = mkn[1];
      int n = mkn[2];
      float[] a = Numerics.uniform(rnd, m * k, -1, 1);
      float[] b = Numerics.uniform(rnd, k * n, -1, 1);
      Tensor want = REF.zeros(m, n);
      REF.matmul(want, REF.fromArray(a, m, k), REF.fromArray(b, k, n), false, false, 1f, 0f);
      Tensor out = nans(be, m, n);
      be.matmul(out, be.fromArray(a, m, k), be.fromArray(b, k, n), false, false, 1f, 0f);
      close("matmul " + m + "x" + k + "x" + n + " beta 0", REF.read(want), be.read(out));
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void geluBackwardOverwritesItsGradient(Backend be) {
    Random rnd = new Random(11);
    float[] x = Numerics.uniform(rnd, 4 * 37, -4, 4);
    float[] dOut = Numerics.uniform(rnd, 4 * 37, -1, 1);
    Tensor want = REF.zeros(4, 37);
    REF.geluBackward(want, REF.fromArray(dOut, 4, 37), REF.fromArray(x, 4, 37));
    Tensor dx = nans(be, 4, 37);
    be.geluBackward(dx, be.fromArray(dOut, 4, 37), be.fromArray(x, 4, 37));
    close("geluBackward", REF.read(want), be.read(dx));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void attentionBackwardOverwritesItsGradients(Backend be) {
    for (int headSize : new int[] {16, 136}) {
      int b = 2;
      int t = 9;
      int h = 2;
      int n = b * t * h * headSize;
      Random rnd = new Random(headSize);
      float[] q = Numerics.uniform(rnd, n, -1, 1);
      float[] k = Numerics.uniform(rnd, n, -1, 1);
      float[] v = Numerics.uniform(rnd, n, -1, 1);
      float[] dOut = Numerics.uniform(rnd, n, -1, 1);
      float[][] want = attentionGradients(REF, q, k, v, dOut, b, t, h, headSize, false);
      float[][] got = attentionGradients(be, q, k, v, dOut, b, t, h, headSize, true);
      for (int i = 0; i < 3; i++) {
        close("attentionBackward d" + "qkv".charAt(i) + ", head " + headSize, want[i], got[i]);
      }
    }
  }

  /** dq, dk, dv of attention on {@code be}, into gradients of NaN ({@code dirty}) or of zeros. */
  private static float[][] attentionGradients(Backend be, float[] q, float[] k, float[] v, float[] dOut, int b, int t,
      int h, int d, boolean dirty) {
    Tensor tq = be.fromArray(q, b, t, h, d);
    Tensor tk = be.fromArray(k, b, t, h, d);
    Tensor tv = be.fromArray(v, b, t, h, d);
    Tensor out = be.zeros(b, t, h, d);
    Tensor lse = be.zeros(b, h, t);
    be.attention(out, lse, tq, tk, tv);
    Tensor[] grads = new Tensor[3];
    for (int i = 0; i < 3; i++) {
      grads[i] = dirty ? nans(be, b, t, h, d) : be.zeros(b, t, h, d);
    }
    be.attentionBackward(grads[0], grads[1], grads[2], be.fromArray(dOut, b, t, h, d), tq, tk, tv, out, lse);
    return new float[][] {be.read(grads[0]), be.read(grads[1]), be.read(grads[2])};
  }
}
