package dev.tessera.bench;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.check.Numerics;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/** Measurements the benchmarks share: check, then time (best of reps after a warm-up); peer processes. */
final class Probes {
  private Probes() {
  }

  /** Times fn: one warm-up, then the best of reps, in seconds. */
  static double best(Backend b, int reps, Runnable fn) {
    fn.run();
    b.sync();
    long bestNs = Long.MAX_VALUE;
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      fn.run();
      b.sync();
      bestNs = Math.min(bestNs, System.nanoTime() - t0);
    }
    return bestNs / 1e9;
  }

  /** GFLOP/s of an n x n x n matmul, after checking 64 of its entries against double-precision dot products. */
  static double squareMatmul(Backend b, int n, int reps, Random rnd) {
    float[] x = Numerics.uniform(rnd, n * n, -1, 1);
    float[] y = Numerics.uniform(rnd, n * n, -1, 1);
    try (Tensor tx = b.fromArray(x, n, n); Tensor ty = b.fromArray(y, n, n); Tensor tz = b.zeros(n, n)) {
      b.matmul(tz, tx, ty, false, false);
      float[] z = b.read(tz);
      for (int t = 0; t < 64; t++) {
        int i = rnd.nextInt(n);
        int j = rnd.nextInt(n);
        double dot = 0;
        double mag = 0;
        for (int kk = 0; kk < n; kk++) {
          dot += (double) x[i * n + kk] * y[kk * n + j];
          mag += Math.abs((double) x[i * n + kk] * y[kk * n + j]);
        }
        if (Math.abs(dot - z[i * n + j]) > 1e-5 * mag + 1e-6) {
          throw new IllegalStateException("matmul " + n + "^3 is wrong at (" + i + ", " + j + "): " + z[i * n + j]
              + " vs " + dot);
        }
      }
      return 2.0 * n * n * n / best(b, reps, () -> b.matmul(tz, tx, ty, false, false)) / 1e9;
    }
  }

  /** Deletes a benchmark's previous run directory, if any. */
  static void deleteRun(java.nio.file.Path dir) throws IOException {
    if (java.nio.file.Files.exists(dir)) {
      try (var s = java.nio.file.Files.walk(dir)) {
        for (java.nio.file.Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
          java.nio.file.Files.delete(p);
        }
      }
    }
  }

  /** Runs a peer command; returns its output lines, or an empty list (with the reason printed) if it failed. */
  static List<String> peer(List<String> cmd, int timeoutSeconds) throws InterruptedException {
    List<String> lines = new ArrayList<>();
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        r.lines().forEach(l -> {
          System.out.println("  peer: " + l);
          lines.add(l);
        });
      }
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS) || p.exitValue() != 0) {
        System.out.println("peer " + String.join(" ", cmd) + " failed");
        return List.of();
      }
    } catch (IOException e) {
      System.out.println("peer " + String.join(" ", cmd) + " unavailable: " + e.getMessage());
      return List.of();
    }
    return lines;
  }
}
