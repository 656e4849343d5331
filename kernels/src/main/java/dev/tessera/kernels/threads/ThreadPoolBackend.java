package dev.tessera.kernels.threads;

import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * The fallback when there is no OpenCL: the reference ops, with the heavy ones (matmul, attention)
 * spread over a fork-join pool and written for speed (float accumulators, cache-friendly loops).
 */
public final class ThreadPoolBackend extends ReferenceBackend {
  private final ForkJoinPool pool;

  public ThreadPoolBackend(int threads) {
    this.pool = new ForkJoinPool(Math.max(1, threads));
  }

  @Override
  public String describe() {
    return "Java thread pool (" + pool.getParallelism() + " threads, no OpenCL)";
  }

  @Override
  public DeviceKind kind() {
    return DeviceKind.JAVA;
  }

  @Override
  public void close() {
    pool.shutdown();
  }

  private void parallel(int n, java.util.function.IntConsumer body) {
    pool.submit(() -> IntStream.range(0, n).parallel().forEach(body)).join();
  }

  @Override
  protected void doMatmul(Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta) {
    float[] c = f(out);
    float[] x = f(a);
    float[] y = f(b);
    parallel(d.batch() * d.m(), row -> {
      int bi = row / d.m();
      int i = row % d.m();
      float[] acc = new float[d.n()];
      for (int kk = 0; kk < d.k(); kk++) {
        float av = x[bi * d.aBatch() + i * d.aRow() + kk * d.aK()];
        int bBase = bi * d.bBatch() + kk * d.bK();
        if (d.bCol() == 1) {
          for (int j = 0; j < d.n(); j++) {
            acc[j] += av * y[bBase + j];
          }
        } else {
          for (int j = 0; j < d.n(); j++) {
            acc[j] += av * y[bBase + j * d.bCol()];
          }
        }
      }
      int o = row * d.n();
      for (int j = 0; j < d.n(); j++) {
        c[o + j] = beta == 0f ? alpha * acc[j] : alpha * acc[j] + beta * c[o + j];
      }
    });
  }

  @Override
  protected void doAttention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    Shape s = q.shape();
    int t = s.dim(1);
    int h = s.dim(2);
    parallel(s.dim(0) * h * t, w -> attentionRow(f(out), f(lse), f(q), f(k), f(v), s, w / (h * t), (w / t) % h,
        w % t));
  }

  @Override
  protected void doAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor out, Tensor lse) {
    clearGradients(dq, dk, dv);
    Shape s = q.shape();
    int h = s.dim(2);
    // Heads are independent: each (batch, head) writes only its own rows of dq, dk, dv.
    parallel(s.dim(0) * h, w -> attentionBackwardHead(f(dq), f(dk), f(dv), f(dOut), f(q), f(k), f(v), f(out),
        f(lse), s, w / h, w % h));
  }
}
