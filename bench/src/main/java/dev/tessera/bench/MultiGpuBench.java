package dev.tessera.bench;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.kernels.opencl.OpenClDevices;
import dev.tessera.worker.TrainConfigs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run multigpu}: {@code tessera launch} with one worker process per GPU (worker r opens GPU
 * r mod their count), nanoGPT's GPU Tiny-Shakespeare shape: tokens/s, tokens/s per GPU and scaling
 * efficiency against one worker for dp over 1, 2, 4 ... GPUs; tp and dp x tp on all of them; fp32
 * against bf16 and 1-bit dp on all of them, exact and bf16 dp with their gradient sums after the
 * backward instead of overlapping it, exact dp overlapped in 25 MB buckets instead of one a block; the bytes and the wait on peers per step, and the planner's
 * predicted tokens/s beside the measured ones. With
 * {@code --gpus} larger than the GPUs there are, workers share them (the rehearsal one GPU allows).
 */
@Command(name = "multigpu", mixinStandardHelpOptions = true,
    description = "tessera launch with a worker per GPU: tokens/s per GPU, scaling from 1 to N, bytes and wait per step, "
        + "compressed against exact dp.")
final class MultiGpuBench implements Callable<Integer> {
  @Option(names = "--data", defaultValue = "../shared/data/tinyshakespeare.txt",
      description = "Tiny Shakespeare (default: ${DEFAULT-VALUE}).")
  Path data;

  @Option(names = "--gpus", description = "Workers of the largest layout (default: the GPUs OpenCL sees).")
  Integer gpus;

  @Option(names = "--device", defaultValue = "gpu", description = "gpu, or cpu to rehearse on pocl "
      + "(default: ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--steps", defaultValue = "60", description = "Steps per layout (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--batch-size", defaultValue = "32", description = "Global batch, sequences of 256 tokens "
      + "(default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--weak", description = "Weak scaling: every dp replica keeps --batch-size sequences (the global "
      + "batch grows with dp), so dpN's ideal is N times dp1's tokens/s at the same work per device; without it the "
      + "global batch is fixed and split (strong scaling).")
  boolean weak;

  @Option(names = "--only", split = ",", description = "Run only these layouts, by name (dp1,dp2,dp2_serial,tp2,"
      + "...); dp1 is the scaling's base.")
  java.util.Set<String> only;

  @Option(names = "--worker-heap", defaultValue = "16g", description = "Each worker's heap (default: "
      + "${DEFAULT-VALUE}).")
  String heap;

  @Option(names = "--big", description = "Also a model too big for one worker's share (12 layers, 768 wide, 16 "
      + "heads, batch 8 x 256: past one device arena of 2 GiB on one worker): on one worker, and tensor-parallel "
      + "over all of them (n must divide 16).")
  boolean big;

  @Option(names = "--out", defaultValue = "target/bench/multigpu-runs", description = "Where the runs go, replaced "
      + "if they exist (default: ${DEFAULT-VALUE}).")
  Path out;

  private Map<String, Object> config(Path dir, int dp, int tp, boolean large) {
    Map<String, Object> o = ShakespeareCharBench.nanoGptCpu(data, steps, 2, dir);
    o.put("n-layer", large ? 12 : 6);
    o.put("n-head", large ? 16 : 6);
    o.put("n-embd", large ? 768 : 384);
    o.put("block-size", 256);
    o.put("batch-size", large ? 8 : weak ? batch * dp : batch);
    o.put("eval-every", 0);
    o.put("checkpoint-every", 0);
    o.put("log-every", steps);
    o.put("device", device);
    o.put("dp", dp);
    o.put("tp", tp);
    return o;
  }

  /** One layout's launch: tokens/s, dp and tp MB per step, wait per step. */
  private double[] launch(String name, int dp, int tp, String codec) throws Exception {
    Path dir = out.resolve(name);
    Probes.deleteRun(dir);
    Map<String, Object> o = config(dir, dp, tp, name.startsWith("big"));
    if (codec.endsWith(" serial")) { // summed after the backward instead of block by block during it
      o.put("dp-overlap", false);
      codec = codec.substring(0, codec.length() - " serial".length());
    }
    if (codec.endsWith(" bucket25")) { // overlapped in sums of 25 MB of gradients instead of one a block
      o.put("dp-bucket-mb", 25);
      codec = codec.substring(0, codec.length() - " bucket25".length());
    }
    if (codec.equals("onebit")) {
      o.put("dp-codec", "onebit");
      o.put("dp-compress", "momentum");
      o.put("dp-exact-steps", 10);
    } else {
      o.put("dp-codec", codec);
    }
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, o), new LaunchRun.Options(dp * tp, false,
        "127.0.0.1", heap, 0, Duration.ofSeconds(600), Duration.ofSeconds(8), Duration.ofSeconds(180), null));
    double tokensPerStep = ((Number) o.get("batch-size")).doubleValue() * ((Number) o.get("block-size")).doubleValue();
    return new double[] {r.tokensPerS(), r.wireBytesPerStep().getOrDefault("dp", 0.0) / 1e6,
        r.wireBytesPerStep().getOrDefault("tp", 0.0) / 1e6, r.launch().waitSecondsPerStep() * 1e3,
        r.launch().workerDeviceBytes() / 1e6, steady(dir.resolve("metrics.csv")),
        tokensPerStep / r.launch().predictedStepSeconds()};
  }

  /**
   * The median tokens/s of the second half of the steps (metrics.csv: one row a step, tokens/s last):
   * past the first steps' kernel compilation and arena growth, which the mean over all steps includes.
   */
  static double steady(Path metrics) throws java.io.IOException {
    List<String> rows = Files.readAllLines(metrics);
    List<double[]> steps = new ArrayList<>();
    for (String row : rows.subList(1, rows.size())) {
      String[] f = row.split(",");
      steps.add(new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[f.length - 1])});
    }
    double last = steps.isEmpty() ? 0 : steps.get(steps.size() - 1)[0];
    double[] late = steps.stream().filter(x -> x[0] >= last / 2).mapToDouble(x -> x[1]).sorted().toArray();
    return late.length == 0 ? Double.NaN : late.length % 2 == 1 ? late[late.length / 2]
        : (late[late.length / 2 - 1] + late[late.length / 2]) / 2;
  }

  @Override
  public Integer call() throws Exception {
    if (!Files.isRegularFile(data)) {
      System.err.println("multigpu: " + data + " not found (run from the repository root, or pass --data)");
      return 2;
    }
    List<OpenCLDevice> found = OpenClDevices.all(device.equals("gpu") ? Device.TYPE.GPU : Device.TYPE.CPU);
    if (found.isEmpty()) {
      System.err.println("multigpu: no OpenCL " + device + " here (" + OpenClDevices.inventory() + "); --device cpu "
          + "rehearses on pocl");
      return 2;
    }
    int n = gpus != null ? gpus : found.size();
    String model = found.get(0).getName().trim().replace(' ', '_');
    BenchLine line = new BenchLine("multigpu").put("device", model).put("devices_seen", found.size())
        .put("workers_max", n).put("steps", steps).put("batch", batch)
        .put("scaling", weak ? "weak" : "strong");
    if (n > found.size()) {
      System.out.printf(Locale.ROOT, "note: %d workers on %d %s device(s): they share%n", n, found.size(), device);
    }
    double one = 0;
    double oneSteady = 0;
    List<Object[]> layouts = new ArrayList<>();
    for (int w = 1; w <= n; w *= 2) {
      layouts.add(new Object[] {"dp" + w, w, 1, "fp32"});
    }
    if (n >= 2) {
      layouts.add(new Object[] {"dp" + n + "_serial", n, 1, "fp32 serial"});
      layouts.add(new Object[] {"dp" + n + "_bucket25", n, 1, "fp32 bucket25"});
      layouts.add(new Object[] {"tp2", 1, 2, "fp32"});
      if (n >= 4) {
        layouts.add(new Object[] {"dp" + n / 2 + "xtp2", n / 2, 2, "fp32"});
      }
      layouts.add(new Object[] {"dp" + n + "_bf16", n, 1, "bf16"});
      layouts.add(new Object[] {"dp" + n + "_bf16_serial", n, 1, "bf16 serial"});
      layouts.add(new Object[] {"dp" + n + "_onebit", n, 1, "onebit"});
    }
    if (big) {
      layouts.add(new Object[] {"big_dp1", 1, 1, "fp32"});
      layouts.add(new Object[] {"big_tp" + n, 1, n, "fp32"});
    }
    if (only != null) {
      List<String> names = layouts.stream().map(l -> (String) l[0]).toList();
      List<String> unknown = only.stream().filter(o -> !names.contains(o)).sorted().toList();
      if (!unknown.isEmpty()) {
        System.err.println("multigpu: --only " + String.join(",", unknown) + ": no such layout with " + n
            + " workers" + (big ? "" : " (big_* need --big)") + "; the layouts: " + String.join(",", names));
        return 2;
      }
      layouts.removeIf(l -> !only.contains((String) l[0]));
    }
    System.out.printf(Locale.ROOT, "%-16s %10s %12s %9s %10s %9s %10s %10s %9s %10s %10s%n", "layout", "tokens/s",
        "per device", "scaling", "steady", "scaling", "dp MB/st", "tp MB/st", "wait ms", "device MB", "predicted");
    for (Object[] l : layouts) {
      String name = (String) l[0];
      int dp = (Integer) l[1];
      int tp = (Integer) l[2];
      double[] r;
      try {
        r = launch(name, dp, tp, (String) l[3]);
      } catch (RuntimeException e) {
        if (!name.startsWith("big")) {
          throw e;
        }
        // The point of the large model: one worker's share may not fit. Record why, go on.
        System.out.printf(Locale.ROOT, "%-16s failed: %s%n", name, e.getMessage());
        String m = String.valueOf(e.getMessage());
        line.put(name + "_failed", m.contains("does not fit") ? "refused_by_planner" : m.contains("out of device memory")
            ? "out_of_device_memory" : e.getClass().getSimpleName());
        continue;
      }
      if (name.equals("dp1")) {
        one = r[0];
        oneSteady = r[5];
      }
      int workers = dp * tp;
      double scaling = one > 0 && !name.startsWith("big") ? r[0] / (workers * one) : Double.NaN;
      double steadyScaling = oneSteady > 0 && !name.startsWith("big") ? r[5] / (workers * oneSteady) : Double.NaN;
      System.out.printf(Locale.ROOT, "%-16s %10.0f %12.0f %9.3f %10.0f %9.3f %10.2f %10.2f %9.1f %10.0f %10.0f%n",
          name, r[0], r[0] / workers, scaling, r[5], steadyScaling, r[1], r[2], r[3], r[4], r[6]);
      line.put(name + "_tokens_per_s", r[0]).put(name + "_per_device", r[0] / workers)
          .put(name + "_scaling", scaling).put(name + "_steady_tokens_per_s", r[5])
          .put(name + "_steady_scaling", steadyScaling).put(name + "_dp_mb", r[1]).put(name + "_tp_mb", r[2])
          .put(name + "_wait_ms", r[3]).put(name + "_device_mb", r[4]).put(name + "_predicted_tokens_per_s", r[6])
          .put(name + "_steady_over_predicted", r[5] / r[6]);
    }
    line.emit();
    return 0;
  }
}
