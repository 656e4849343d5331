package dev.tessera.bench;

import dev.tessera.worker.TrainConfigs;
import dev.tessera.coordinator.run.TrainRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run shakespeare_char}: nanoGPT's CPU Tiny-Shakespeare config (4 layers, 4 heads,
 * 128 wide, block 64, batch 12, AdamW 1e-3 to 1e-4 cosine, warm-up 100, weight decay 0.1, beta2
 * 0.99, clip 1, no bias, no dropout, char-level, 90/10 split) trained with {@code tessera train};
 * final validation loss over 200 batches, ms per iteration and tokens/s.
 */
@Command(name = "shakespeare_char", mixinStandardHelpOptions = true,
    description = "nanoGPT's CPU Tiny-Shakespeare config trained by tessera train.")
final class ShakespeareCharBench implements Callable<Integer> {
  @Option(names = "--data", defaultValue = "../shared/data/tinyshakespeare.txt",
      description = "Tiny Shakespeare (default: ${DEFAULT-VALUE}).")
  Path data;

  @Option(names = "--steps", defaultValue = "2000", description = "Iterations (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--eval-batches", defaultValue = "200",
      description = "Validation batches of the final loss (default: ${DEFAULT-VALUE}).")
  int evalBatches;

  @Option(names = "--device", description = "auto, gpu, cpu, java or reference (default: $TESSERA_DEVICE, else auto)")
  String device;

  @Option(names = "--out", defaultValue = "target/bench/shakespeare_char-run",
      description = "Run directory, replaced if it exists (default: ${DEFAULT-VALUE}).")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (!Files.isRegularFile(data)) {
      System.err.println("shakespeare_char: " + data + " not found (run from the repository root, or pass --data)");
      return 2;
    }
    Probes.deleteRun(out);
    Map<String, Object> o = nanoGptCpu(data, steps, evalBatches, out);
    if (device != null) {
      o.put("device", device);
    }
    long t0 = System.nanoTime();
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, o));
    double wall = (System.nanoTime() - t0) / 1e9;
    double msPerIter = 1e3 * 12 * 64 / r.tokensPerS();
    System.out.printf(Locale.ROOT, "%d iterations: validation loss %.4f over %d batches, %.1f ms/iteration, "
        + "%,.0f tokens/s (wall %.0f s including evaluation)%n", steps, r.valLoss(), evalBatches, msPerIter,
        r.tokensPerS(), wall);
    new BenchLine("shakespeare_char").put("val_loss", r.valLoss()).put("tokens_per_s", r.tokensPerS())
        .put("ms_per_iter", msPerIter).put("steps", steps).put("wall_s", wall).emit();
    return 0;
  }

  /**
   * nanoGPT's CPU Tiny-Shakespeare config as {@code tessera train} options, evaluated once at the end,
   * no checkpoints.
   */
  static Map<String, Object> nanoGptCpu(Path data, int steps, int evalBatches, Path out) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("data", data.toString());
    o.put("tokenizer", "char");
    o.put("val-fraction", 0.1);
    o.put("n-layer", 4);
    o.put("n-head", 4);
    o.put("n-embd", 128);
    o.put("block-size", 64);
    o.put("batch-size", 12);
    o.put("bias", false);
    o.put("learning-rate", 1e-3f);
    o.put("min-lr", 1e-4f);
    o.put("warmup-steps", 100);
    o.put("lr-decay-steps", steps);
    o.put("weight-decay", 0.1f);
    o.put("beta1", 0.9f);
    o.put("beta2", 0.99f);
    o.put("grad-clip", 1.0f);
    o.put("steps", steps);
    o.put("eval-every", 0);
    o.put("eval-batches", evalBatches);
    o.put("checkpoint-every", 0);
    o.put("log-every", 100);
    o.put("out", out.toString());
    return o;
  }
}
