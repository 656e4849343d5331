package dev.tessera.bench;

import dev.tessera.comm.Codec;
import dev.tessera.comm.Codecs;
import dev.tessera.comm.ErrorFeedback;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run codecs}: for a gradient of {@code --mib} MiB (Gaussian), bytes on the wire per
 * codec against fp32, and encode and decode throughput in GB/s of fp32 input (best of --reps),
 * error feedback included for the lossy codecs as training uses them.
 */
@Command(name = "codecs", mixinStandardHelpOptions = true, description = "Compression codecs: wire size and speed.")
final class CodecsBench implements Callable<Integer> {
  @Option(names = "--mib", defaultValue = "16", description = "gradient size in MiB of fp32")
  int mib;

  @Option(names = "--reps", defaultValue = "5", description = "timed repetitions; the best is kept")
  int reps;

  @Override
  public Integer call() {
    int n = mib << 18;
    float[] g = new float[n];
    Random rnd = new Random(3);
    for (int i = 0; i < n; i++) {
      g[i] = (float) rnd.nextGaussian() * 1e-3f;
    }
    BenchLine line = new BenchLine("codecs");
    double fp32Bytes = 4.0 * n;
    for (Codec c : List.of(Codecs.BF16, Codecs.INT8, Codecs.FP8, Codecs.ONE_BIT, Codecs.topK(0.01))) {
      ErrorFeedback ef = new ErrorFeedback();
      byte[] enc = null;
      double bestEnc = Double.MAX_VALUE;
      double bestDec = Double.MAX_VALUE;
      float[] out = new float[n];
      for (int r = 0; r < reps + 1; r++) {
        long t0 = System.nanoTime();
        enc = ef.encode("g", c, g, 0, n, null);
        long t1 = System.nanoTime();
        c.decode(enc, out, 0, n);
        long t2 = System.nanoTime();
        if (r > 0) { // the first is warm-up
          bestEnc = Math.min(bestEnc, (t1 - t0) / 1e9);
          bestDec = Math.min(bestDec, (t2 - t1) / 1e9);
        }
      }
      String key = c.name().replace("-e4m3", "");
      double ratio = enc.length / fp32Bytes;
      System.out.printf(Locale.ROOT, "%-9s %10d bytes (1/%.1f of fp32), encode+feedback %.2f GB/s, decode %.2f GB/s%n",
          c.name(), enc.length, 1 / ratio, fp32Bytes / bestEnc / 1e9, fp32Bytes / bestDec / 1e9);
      line.put(key + "_ratio", ratio).put(key + "_encode_gbs", fp32Bytes / bestEnc / 1e9)
          .put(key + "_decode_gbs", fp32Bytes / bestDec / 1e9);
    }
    line.emit();
    return 0;
  }
}
