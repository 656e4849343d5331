package dev.tessera.bench;

import dev.tessera.worker.TrainConfigs;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.check.Numerics;
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
 * {@code bench/run gpu}: on an OpenCL GPU, side by side with PyTorch on the same GPU
 * ({@code gpu_torch.py}): matmul TFLOP/s against cuBLAS fp32 with TF32 off; fused attention at the
 * nanoGPT GPU shapes; and end-to-end training tokens/s of nanoGPT's GPU Tiny-Shakespeare config (6
 * layers, 6 heads, 384 wide, block 256, batch 64) against the same model in PyTorch eager fp32.
 */
@Command(name = "gpu", mixinStandardHelpOptions = true, description = "GPU kernels and training against PyTorch.")
final class GpuBench implements Callable<Integer> {
  @Option(names = "--sizes", split = ",", defaultValue = "1024,2048,4096,8192", description = "matmul sizes")
  int[] sizes;

  @Option(names = "--reps", defaultValue = "5", description = "timed repetitions; the best is kept")
  int reps;

  @Option(names = "--train-steps", defaultValue = "30", description = "training steps timed (after 5 warm-up)")
  int trainSteps;

  @Option(names = "--data", defaultValue = "data/tinyshakespeare.txt", description = "training text")
  Path data;

  @Option(names = "--peer", defaultValue = "gpu_torch.py", description = "the PyTorch peer script ('' to skip)")
  String peer;

  @Override
  public Integer call() throws Exception {
    BenchLine line = new BenchLine("gpu");
    Random rnd = new Random(5);
    Map<Integer, Double> ours = new LinkedHashMap<>();
    try (Backend b = Backends.create(DeviceKind.GPU)) {
      System.out.println("device: " + b.describe());
      line.put("gpu", b.describe().replaceAll("^OpenCL GPU: ", "").replaceAll(" \\(.*", ""));
      for (int n : sizes) {
        double t = Probes.squareMatmul(b, n, reps, rnd) / 1e3;
        ours.put(n, t);
        System.out.printf(Locale.ROOT, "matmul %d^3: %.2f TFLOP/s%n", n, t);
        line.put("matmul" + n + "_tflops", t);
      }
      attention(b, line, rnd);
      transfers(b, line, rnd);
    }
    double tessera = train(line);
    if (!peer.isEmpty() && Files.exists(Path.of(peer))) {
      List<String> cmd = new ArrayList<>(List.of("python3", peer, "matmul"));
      for (int n : sizes) {
        cmd.add(Integer.toString(n));
      }
      for (String l : Probes.peer(cmd, 300)) {
        String[] f = l.split("\\s+");
        if (f[0].equals("matmul")) {
          int n = Integer.parseInt(f[1]);
          double cublas = Double.parseDouble(f[3]);
          line.put("cublas" + n + "_tflops", cublas).put("ratio" + n, ours.get(n) / cublas);
        }
      }
      for (String l : Probes.peer(List.of("python3", peer, "train", Integer.toString(trainSteps)), 600)) {
        String[] f = l.split("\\s+");
        if (f[0].equals("train")) {
          double torch = Double.parseDouble(f[2]);
          line.put("torch_tokens_per_s", torch).put("train_ratio", tessera / torch);
        }
      }
    }
    line.emit();
    return 0;
  }

  /**
   * Host to device ({@code write}) and back ({@code read}) of 4 MiB and 64 MiB (data parallelism
   * reads a worker's gradients and writes their sum back every step: 43 MB for nanoGPT's GPU config),
   * after checking that the data came back whole; through pinned memory (the default) and, side by
   * side, through Aparapi's staging arrays ({@code -Dtessera.gpu.copies=aparapi}) in a second backend.
   */
  private void transfers(Backend b, BenchLine line, Random rnd) {
    String before = System.getProperty("tessera.gpu.copies");
    System.setProperty("tessera.gpu.copies", "aparapi");
    try (Backend staged = Backends.create(DeviceKind.GPU)) {
      for (int mib : new int[] {4, 64}) {
        double[] pinned = rates(b, mib, rnd);
        double[] aparapi = rates(staged, mib, rnd);
        System.out.printf(Locale.ROOT, "%d MiB: to the device %.2f GB/s (Aparapi's staging %.2f), back %.2f GB/s "
            + "(%.2f), back into an array used before %.2f GB/s (%.2f)%n", mib, pinned[0], aparapi[0], pinned[1],
            aparapi[1], pinned[2], aparapi[2]);
        line.put("h2d" + mib + "m_gbs", pinned[0]).put("d2h" + mib + "m_gbs", pinned[1])
            .put("d2h" + mib + "m_reused_gbs", pinned[2])
            .put("h2d" + mib + "m_aparapi_gbs", aparapi[0]).put("d2h" + mib + "m_aparapi_gbs", aparapi[1]);
      }
    } finally {
      if (before == null) {
        System.clearProperty("tessera.gpu.copies");
      } else {
        System.setProperty("tessera.gpu.copies", before);
      }
    }
  }

  /** GB/s of the best write and the best read of {@code mib} MiB. */
  private double[] rates(Backend b, int mib, Random rnd) {
    int n = mib << 18;
    float[] host = Numerics.uniform(rnd, n, -1, 1);
    try (Tensor t = b.zeros(n)) {
      b.write(t, host);
      if (!java.util.Arrays.equals(host, b.read(t))) {
        throw new IllegalStateException("a " + mib + " MiB tensor did not come back as written on " + b.describe());
      }
      double write = Probes.best(b, reps, () -> b.write(t, host));
      double read = Probes.best(b, reps, () -> b.read(t));
      float[] into = new float[n];
      double readInto = Probes.best(b, reps, () -> b.read(t, into, 0));
      return new double[] {4.0 * n / write / 1e9, 4.0 * n / read / 1e9, 4.0 * n / readInto / 1e9};
    }
  }

  private void attention(Backend b, BenchLine line, Random rnd) {
    int bs = 64;
    int t = 256;
    int h = 6;
    int d = 64;
    int n = bs * t * h * d;
    try (Tensor q = b.fromArray(Numerics.uniform(rnd, n, -1, 1), bs, t, h, d);
        Tensor k = b.fromArray(Numerics.uniform(rnd, n, -1, 1), bs, t, h, d);
        Tensor v = b.fromArray(Numerics.uniform(rnd, n, -1, 1), bs, t, h, d); Tensor out = b.zeros(bs, t, h, d);
        Tensor lse = b.zeros(bs, h, t); Tensor dq = b.zeros(bs, t, h, d); Tensor dk = b.zeros(bs, t, h, d);
        Tensor dv = b.zeros(bs, t, h, d)) {
      double fwd = Probes.best(b, reps, () -> b.attention(out, lse, q, k, v));
      double bwd = Probes.best(b, reps, () -> b.attentionBackward(dq, dk, dv, out, q, k, v, out, lse));
      double flops = 2.0 * 2 * bs * h * (t * (t + 1) / 2.0) * d;
      System.out.printf(Locale.ROOT, "attention B%d T%d H%d D%d: forward %.2f ms (%.2f TFLOP/s), backward %.2f ms%n",
          bs, t, h, d, fwd * 1e3, flops / fwd / 1e12, bwd * 1e3);
      line.put("attention_fwd_ms", fwd * 1e3).put("attention_bwd_ms", bwd * 1e3);
    }
  }

  /** Trains the nanoGPT GPU config with tessera train; returns the steady-state tokens/s. */
  private double train(BenchLine line) throws Exception {
    Path out = Path.of("target", "bench", "gpu-train-run");
    Probes.deleteRun(out);
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("data", data.toString());
    o.put("n-layer", 6);
    o.put("n-head", 6);
    o.put("n-embd", 384);
    o.put("block-size", 256);
    // 64 sequences per step as nanoGPT, in 4 micro-batches of 16: one OpenCL buffer (one arena) holds
    // under 2 GiB through Aparapi, and 64 x 256 x 384 activations of six layers do not fit in it.
    o.put("batch-size", 16);
    o.put("grad-accum", 4);
    o.put("learning-rate", 1e-3f);
    o.put("min-lr", 1e-4f);
    o.put("warmup-steps", 5);
    o.put("steps", trainSteps + 5);
    o.put("eval-every", 0);
    o.put("eval-batches", 1);
    o.put("checkpoint-every", 0);
    o.put("log-every", 5);
    o.put("device", "gpu");
    o.put("out", out.toString());
    TrainRun.start(TrainConfigs.resolve(null, o));
    List<String> rows = Files.readAllLines(out.resolve("metrics.csv"));
    double sum = 0;
    int count = 0;
    for (String r : rows.subList(1, rows.size())) {
      String[] f = r.split(",", -1);
      if (Integer.parseInt(f[0]) >= 5) {
        sum += 1.0 / Double.parseDouble(f[5]);
        count++;
      }
    }
    double tps = count / sum; // harmonic mean of per-step rates = total tokens / total time
    System.out.printf(Locale.ROOT, "train 6x384, block 256, batch 64: %,.0f tokens/s (steady state, %d steps)%n", tps,
        count);
    line.put("train_tokens_per_s", tps);
    return tps;
  }
}
