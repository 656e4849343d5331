package dev.tessera.bench;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run kernels}: matmul GFLOP/s at square sizes and at the shapes of a 4-layer, 128-wide
 * GPT with 768 tokens per batch; attention and LayerNorm times; and, side by side in the same run,
 * NumPy's OpenBLAS matmul when python3 with numpy is available. Every timed op is first checked
 * against a reference.
 */
@Command(name = "kernels", mixinStandardHelpOptions = true,
    description = "Kernel throughput on the chosen device (check, then time: best of --reps after a warm-up).")
final class KernelsBench implements Callable<Integer> {
  @Option(names = "--device", description = "auto, gpu, cpu, java or reference (default: $TESSERA_DEVICE, else auto)")
  String device;

  @Option(names = "--sizes", split = ",", defaultValue = "256,512,1024,2048", description = "square matmul sizes")
  int[] sizes;

  @Option(names = "--reps", defaultValue = "5", description = "timed repetitions; the best is kept")
  int reps;

  @Option(names = "--no-peer", description = "skip the NumPy/OpenBLAS comparison")
  boolean noPeer;

  private final Random rnd = new Random(11);

  @Override
  public Integer call() throws Exception {
    BenchLine line = new BenchLine("kernels");
    try (Backend b = Backends.create(Backends.requested(device))) {
      System.out.println("device: " + b.describe());
      line.put("device", b.kind().id());
      Map<Integer, Double> ours = new LinkedHashMap<>();
      for (int n : sizes) {
        double g = squareMatmul(b, n);
        ours.put(n, g);
        System.out.printf(Locale.ROOT, "matmul %dx%dx%d: %.1f GFLOP/s%n", n, n, n, g);
        line.put("matmul" + n + "_gflops", g);
      }
      gptMatmuls(b, line);
      attention(b, line);
      layerNorm(b, line);
      if (!noPeer) {
        Map<Integer, Double> blas = numpyPeer(sizes);
        for (Map.Entry<Integer, Double> e : blas.entrySet()) {
          System.out.printf(Locale.ROOT, "openblas (numpy) %d: %.1f GFLOP/s, Tessera/OpenBLAS = %.3f%n", e.getKey(),
              e.getValue(), ours.get(e.getKey()) / e.getValue());
          line.put("openblas" + e.getKey() + "_gflops", e.getValue());
          line.put("ratio" + e.getKey(), ours.get(e.getKey()) / e.getValue());
        }
      }
    }
    line.emit();
    return 0;
  }

  private double best(Backend b, Runnable fn) {
    return Probes.best(b, reps, fn);
  }

  private double squareMatmul(Backend b, int n) {
    return Probes.squareMatmul(b, n, reps, rnd);
  }

  /** One matmul of a linear layer y = x W^T and its two backward matmuls. */
  private record Linear(String name, int in, int out) {
  }

  private void gptMatmuls(Backend b, BenchLine line) {
    int tokens = 768;
    int c = 128;
    int layers = 4;
    List<Linear> linears = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      linears.add(new Linear("qkv", c, 3 * c));
      linears.add(new Linear("attn_proj", c, c));
      linears.add(new Linear("mlp_fc", c, 4 * c));
      linears.add(new Linear("mlp_proj", 4 * c, c));
    }
    linears.add(new Linear("lm_head", c, 65));
    List<Tensor> all = new ArrayList<>();
    List<Runnable> step = new ArrayList<>();
    long flops = 0;
    for (Linear lin : linears) {
      Tensor x = b.fromArray(Numerics.uniform(rnd, tokens * lin.in(), -1, 1), tokens, lin.in());
      Tensor w = b.fromArray(Numerics.uniform(rnd, lin.out() * lin.in(), -1, 1), lin.out(), lin.in());
      Tensor y = b.zeros(tokens, lin.out());
      Tensor dx = b.zeros(tokens, lin.in());
      Tensor dw = b.zeros(lin.out(), lin.in());
      all.addAll(List.of(x, w, y, dx, dw));
      step.add(() -> b.matmul(y, x, w, false, true));            // forward:  y = x W^T
      step.add(() -> b.matmul(dx, y, w, false, false));          // backward: dx = dy W
      step.add(() -> b.matmul(dw, y, x, true, false, 1f, 1f));   // backward: dW += dy^T x
      flops += 3L * 2 * tokens * lin.in() * lin.out();
    }
    double s = best(b, () -> step.forEach(Runnable::run));
    double g = flops / s / 1e9;
    System.out.printf(Locale.ROOT, "GPT 4x128, 768 tokens: %d matmuls (forward + backward) in %.2f ms, %.1f GFLOP/s%n",
        step.size(), s * 1e3, g);
    line.put("gpt_step_matmul_ms", s * 1e3).put("gpt_matmul_gflops", g);
    all.forEach(Tensor::close);
  }

  private void attention(Backend b, BenchLine line) {
    int bs = 12;
    int t = 64;
    int h = 4;
    int d = 32;
    int n = bs * t * h * d;
    float[] q = Numerics.uniform(rnd, n, -1, 1);
    float[] k = Numerics.uniform(rnd, n, -1, 1);
    float[] v = Numerics.uniform(rnd, n, -1, 1);
    Backend ref = new ReferenceBackend();
    Tensor rq = ref.fromArray(q, bs, t, h, d);
    Tensor rout = ref.zeros(bs, t, h, d);
    ref.attention(rout, ref.zeros(bs, h, t), rq, ref.fromArray(k, bs, t, h, d), ref.fromArray(v, bs, t, h, d));
    try (Tensor tq = b.fromArray(q, bs, t, h, d); Tensor tk = b.fromArray(k, bs, t, h, d);
        Tensor tv = b.fromArray(v, bs, t, h, d); Tensor out = b.zeros(bs, t, h, d); Tensor lse = b.zeros(bs, h, t);
        Tensor dq = b.zeros(bs, t, h, d); Tensor dk = b.zeros(bs, t, h, d); Tensor dv = b.zeros(bs, t, h, d)) {
      b.attention(out, lse, tq, tk, tv);
      double err = Numerics.relativeError(b.read(out), ref.read(rout));
      if (err > 1e-5) {
        throw new IllegalStateException("attention differs from the reference by " + err);
      }
      double fwd = best(b, () -> b.attention(out, lse, tq, tk, tv));
      double bwd = best(b, () -> b.attentionBackward(dq, dk, dv, out, tq, tk, tv, out, lse));
      // Causal: about half of the T x T scores; 2 matmul-like passes forward, 4 backward (plus recompute).
      double fwdFlops = 2.0 * 2 * bs * h * (t * (t + 1) / 2.0) * d;
      System.out.printf(Locale.ROOT, "attention B%d T%d H%d D%d: forward %.2f ms (%.1f GFLOP/s), backward %.2f ms%n",
          bs, t, h, d, fwd * 1e3, fwdFlops / fwd / 1e9, bwd * 1e3);
      line.put("attention_fwd_ms", fwd * 1e3).put("attention_bwd_ms", bwd * 1e3)
          .put("attention_fwd_gflops", fwdFlops / fwd / 1e9);
    }
  }

  private void layerNorm(Backend b, BenchLine line) {
    int rows = 768;
    int c = 128;
    try (Tensor x = b.fromArray(Numerics.uniform(rnd, rows * c, -2, 2), rows, c); Tensor out = b.zeros(rows, c);
        Tensor w = b.fromArray(Numerics.uniform(rnd, c, 0.5f, 1.5f), c); Tensor bias = b.zeros(c);
        Tensor mean = b.zeros(rows); Tensor rstd = b.zeros(rows); Tensor dx = b.zeros(rows, c);
        Tensor dw = b.zeros(c); Tensor db = b.zeros(c)) {
      double fwd = best(b, () -> b.layerNorm(out, mean, rstd, x, w, bias, 1e-5f));
      double bwd = best(b, () -> b.layerNormBackward(dx, dw, db, out, x, w, mean, rstd));
      double gbs = 2.0 * 4 * rows * c / fwd / 1e9;
      System.out.printf(Locale.ROOT, "layerNorm [%d, %d]: forward %.3f ms (%.2f GB/s), backward %.3f ms%n", rows, c,
          fwd * 1e3, gbs, bwd * 1e3);
      line.put("layernorm_fwd_ms", fwd * 1e3).put("layernorm_bwd_ms", bwd * 1e3).put("layernorm_fwd_gbs", gbs);
    }
  }

  /** Runs bench/peers/matmul_numpy.py; returns size -> GFLOP/s, empty (with the reason printed) if it cannot. */
  private static Map<Integer, Double> numpyPeer(int[] sizes) throws InterruptedException {
    Map<Integer, Double> out = new LinkedHashMap<>();
    Path script = Path.of("bench", "peers", "matmul_numpy.py");
    if (!Files.exists(script)) {
      System.out.println("openblas peer: " + script + " not found (run from the repository root)");
      return out;
    }
    List<String> cmd = new ArrayList<>(List.of("python3", script.toString()));
    for (int n : sizes) {
      cmd.add(Integer.toString(n));
    }
    for (String l : Probes.peer(cmd, 600)) {
      String[] f = l.trim().split("\\s+");
      out.put(Integer.parseInt(f[0]), Double.parseDouble(f[1]));
    }
    return out;
  }
}
