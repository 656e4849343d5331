package dev.tessera.kernels.check;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Runs every op's forward and backward on a backend and on the reference, and prints per op the
 * largest relative difference and the time taken; then a matmul throughput figure. This is what
 * {@code tessera selfcheck} shows.
 */
public final class SelfCheck {
  public static final double TOLERANCE = 1e-5;
  private static final long SEED = 2024;

  private SelfCheck() {
  }

  /** Returns the number of ops whose results differ from the reference by more than the tolerance. */
  public static int run(Backend backend, PrintStream out) {
    Backend reference = new ReferenceBackend();
    out.println("device: " + backend.describe());
    out.printf(Locale.ROOT, "%-44s %12s %10s  %s%n", "op (forward + backward)", "rel. error", "time ms", "result");
    int failures = 0;
    for (OpCase c : OpCases.all()) {
      Map<String, float[]> expected = c.runAll(reference, SEED);
      long t0 = System.nanoTime();
      Map<String, float[]> actual = c.runAll(backend, SEED);
      double ms = (System.nanoTime() - t0) / 1e6;
      double worst = 0;
      for (String key : expected.keySet()) {
        worst = Math.max(worst, Numerics.relativeError(actual.get(key), expected.get(key)));
      }
      boolean ok = worst <= TOLERANCE;
      failures += ok ? 0 : 1;
      out.printf(Locale.ROOT, "%-44s %12.2e %10.2f  %s%n", c.name(), worst, ms, ok ? "ok" : "MISMATCH");
    }
    out.printf(Locale.ROOT, "matmul 512x512x512: %.1f GFLOP/s%n", matmulGflops(backend, 512, 5));
    out.println(failures == 0 ? "all ops match the reference within " + TOLERANCE
        : failures + " op(s) differ from the reference by more than " + TOLERANCE);
    return failures;
  }

  /** Best-of-{@code reps} throughput of an n x n x n matmul, after one warm-up run. */
  public static double matmulGflops(Backend b, int n, int reps) {
    Random rnd = new Random(1);
    try (Tensor x = b.fromArray(Numerics.uniform(rnd, n * n, -1, 1), n, n);
        Tensor y = b.fromArray(Numerics.uniform(rnd, n * n, -1, 1), n, n);
        Tensor z = b.zeros(n, n)) {
      b.matmul(z, x, y, false, false);
      b.sync();
      long best = Long.MAX_VALUE;
      for (int i = 0; i < reps; i++) {
        long t0 = System.nanoTime();
        b.matmul(z, x, y, false, false);
        b.sync();
        best = Math.min(best, System.nanoTime() - t0);
      }
      return 2.0 * n * n * n / best;
    }
  }
}
