package dev.tessera.bench;

import dev.tessera.worker.TrainConfigs;
import dev.tessera.coordinator.run.TrainRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run parallel_core}: nanoGPT's CPU Tiny-Shakespeare config trained by {@code tessera
 * train} under each layout (workers as threads of one process, over the in-JVM fabric): step time,
 * tokens/s, speed-up against one worker, and the bytes all workers send per step over each mesh
 * axis. Layouts: 1 (one worker), dpN, tpN, dpNxtpM, with +sp (sequence parallelism), +onebit (1-bit
 * Adam: 1-bit momentum after 5 exact steps) or +topk (top-1% gradients).
 */
@Command(name = "parallel_core", mixinStandardHelpOptions = true,
    description = "Step time, tokens/s and bytes on the wire per layout (dp, tp, dp x tp, sp, compressed dp).")
final class ParallelCoreBench implements Callable<Integer> {
  @Option(names = "--data", defaultValue = "../shared/data/tinyshakespeare.txt",
      description = "Tiny Shakespeare (default: ${DEFAULT-VALUE}).")
  Path data;

  @Option(names = "--steps", defaultValue = "40", description = "Steps per layout (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--layouts", split = ",",
      defaultValue = "1,dp2,tp2,tp2+sp,dp4,tp4,dp2xtp2,dp2xtp2+sp,dp2+onebit,dp2+topk",
      description = "Layouts to run (default: ${DEFAULT-VALUE}).")
  List<String> layouts;

  @Option(names = "--device", description = "auto, gpu, cpu, java or reference (default: $TESSERA_DEVICE, else auto)")
  String device;

  @Option(names = "--out", defaultValue = "target/bench/parallel_core-runs",
      description = "Where the runs go, replaced if they exist (default: ${DEFAULT-VALUE}).")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (!Files.isRegularFile(data)) {
      System.err.println("parallel_core: " + data + " not found (run from the repository root, or pass --data)");
      return 2;
    }
    BenchLine line = new BenchLine("parallel_core").put("steps", steps)
        .put("cores", Runtime.getRuntime().availableProcessors());
    double alone = 0;
    System.out.printf(Locale.ROOT, "%-14s %10s %12s %9s %14s %14s%n", "layout", "ms/step", "tokens/s", "speed-up",
        "tp MB/step", "dp MB/step");
    for (String layout : layouts) {
      Path dir = out.resolve(layout);
      Probes.deleteRun(dir);
      Map<String, Object> o = ShakespeareCharBench.nanoGptCpu(data, steps, 2, dir);
      o.put("log-every", steps);
      if (device != null) {
        o.put("device", device);
      }
      configure(o, layout);
      TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, o));
      double msPerStep = 1e3 * 12 * 64 / r.tokensPerS();
      if (layout.equals("1")) {
        alone = r.tokensPerS();
      }
      double tp = r.wireBytesPerStep().getOrDefault("tp", 0.0) / 1e6;
      double dp = r.wireBytesPerStep().getOrDefault("dp", 0.0) / 1e6;
      double speedup = alone > 0 ? r.tokensPerS() / alone : Double.NaN;
      System.out.printf(Locale.ROOT, "%-14s %10.1f %12.0f %9.3f %14.3f %14.3f%n", layout, msPerStep, r.tokensPerS(),
          speedup, tp, dp);
      String key = layout.replace('+', '_');
      line.put(key + "_ms_per_step", msPerStep).put(key + "_tokens_per_s", r.tokensPerS())
          .put(key + "_tp_mb_per_step", tp).put(key + "_dp_mb_per_step", dp);
      if (alone > 0 && !layout.equals("1")) {
        line.put(key + "_speedup", speedup);
      }
    }
    line.emit();
    return 0;
  }

  /** Layout options: "1", "dpN", "tpN", "dpNxtpM", each optionally "+sp", "+onebit" or "+topk". */
  static void configure(Map<String, Object> o, String layout) {
    String[] parts = layout.split("\\+");
    int dp = 1;
    int tp = 1;
    for (String axis : parts[0].split("x")) {
      if (axis.startsWith("dp")) {
        dp = Integer.parseInt(axis.substring(2));
      } else if (axis.startsWith("tp")) {
        tp = Integer.parseInt(axis.substring(2));
      } else if (!axis.equals("1")) {
        throw new IllegalArgumentException("layout '" + layout + "': expected 1, dpN, tpN or dpNxtpM");
      }
    }
    o.put("dp", dp);
    o.put("tp", tp);
    for (int i = 1; i < parts.length; i++) {
      switch (parts[i]) {
        case "sp" -> o.put("sequence-parallel", true);
        case "onebit" -> {
          o.put("dp-codec", "onebit");
          o.put("dp-compress", "momentum");
          o.put("dp-exact-steps", 5);
        }
        case "topk" -> o.put("dp-codec", "topk");
        default -> throw new IllegalArgumentException("layout '" + layout + "': unknown option +" + parts[i]
            + "; expected sp, onebit or topk");
      }
    }
  }
}
