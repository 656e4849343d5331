package dev.tessera.coordinator.run;

import dev.tessera.model.data.DataSource;
import dev.tessera.model.train.Trainer;
import dev.tessera.parallelism.CostModel;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.Control;
import dev.tessera.worker.Faults;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * The coordinator's side of one launched run ({@link LaunchRun}): attempt after attempt until the
 * steps are done or a stop is asked for. Each attempt starts from {@link #checkpoint} (the newest good
 * one when the previous attempt lost a worker), drives the steps and records rank 0's reports; the
 * traffic, heap and recoveries go into the report's Cluster section.
 */
final class LaunchDriver {
  private static final Logger LOG = LogManager.getLogger(LaunchDriver.class);

  private final Path dir;
  private final TrainConfig cfg;
  private final DataSource data;
  private final LaunchRun.Options o;
  private final Planner.Plan plan;
  private final boolean tty;
  private final LaunchRun.Stop stop;
  private final String fault = Faults.spec();
  private final long launched = System.nanoTime();
  private final List<LaunchRun.Recovery> recoveries = new ArrayList<>();
  private final Wire wire = new Wire();

  /** Where the next attempt starts: its step, and its checkpoint directory ("" for step 0). */
  private int from;
  private String checkpoint = "";
  /** The loss being recovered from, until a step is done again. */
  private ClusterAttempt.WorkerLost lost;
  /** The workers' device, or each of their devices when they differ (set by the first attempt). */
  private String deviceSummary;
  private double firstStep = Double.NaN;
  private int stoppedAt = -1;
  private Control.Ready zero;

  LaunchDriver(Path dir, TrainConfig cfg, DataSource data, LaunchRun.Options o, Planner.Plan plan, boolean tty) {
    this.dir = dir;
    this.cfg = cfg;
    this.data = data;
    this.o = o;
    this.plan = plan;
    this.tty = tty;
    this.stop = o.stop() == null ? new LaunchRun.Stop() : o.stop();
  }

  TrainRun.Result run(Optional<Checkpoints.Checkpoint> start) throws IOException {
    from = start.map(c -> c.manifest().step()).orElse(0);
    checkpoint = start.map(c -> c.dir().toString()).orElse("");
    try (RunRecorder rec = new RunRecorder(dir, cfg, from, tty)) {
      for (int attempt = 1; ; attempt++) {
        try {
          attempt(attempt, rec);
          break;
        } catch (ClusterAttempt.WorkerLost e) {
          if (attempt > o.maxRestarts()) {
            throw new IllegalStateException(e.getMessage() + "; gave up after " + o.maxRestarts() + " restart(s) "
                + "(--max-restarts). The checkpoints are intact: continue with tessera launch --resume " + dir, e);
          }
          recover(attempt, e, rec);
        }
      }
      LaunchRun.Stats stats = new LaunchRun.Stats(firstStep, List.copyOf(recoveries), wire.heap, wire.device, stoppedAt,
          wire.waitPerStep(), plan.chosen().cost().stepSeconds());
      LOG.info("wire per step (all workers): {}; waiting on peers {} ms per step and worker",
          RunRecorder.describeWire(wire.perStep()), String.format(Locale.ROOT, "%.1f", stats.waitSecondsPerStep() * 1e3));
      String device = (deviceSummary == null ? "?" : deviceSummary) + "; " + cfg.workers() + " worker processes, dp="
          + cfg.dp() + " tp=" + cfg.tp();
      TrainRun.Result r = rec.finish(data.describe(), device, zero == null ? 0 : zero.parameters(),
          zero == null || zero.baselines().length == 0 ? null : zero.baselines(), Double.NaN, report(stats, rec));
      return r.withLaunch(stats).withWire(wire.perStep());
    }
  }

  /** One attempt: start the workers, hand out the plan, drive the steps; a lost worker is a WorkerLost. */
  private void attempt(int attempt, RunRecorder rec) throws IOException {
    try (ClusterAttempt a = ClusterAttempt.start(dir, cfg.workers(), attempt, o, attempt == 1 ? fault : null,
        LocalCluster.codecThreads(cfg, Runtime.getRuntime().availableProcessors()))) {
      if (!a.pids().isEmpty()) { // workers of this machine (Spark tasks have none of their own)
        Files.writeString(dir.resolve("workers").resolve("attempt-" + attempt + ".pids"), pidLines(a.pids()),
            StandardCharsets.UTF_8);
      }
      Control.Ready[] ready = a.ready(new Control.Plan(attempt, dir.toAbsolutePath().toString(),
          TrainConfigs.toYaml(cfg), checkpoint, (int) o.stepTimeout().toSeconds()));
      zero = ready[0];
      for (Control.Ready r : ready) {
        wire.heap = Math.max(wire.heap, r.memoryBytes());
      }
      if (attempt == 1) {
        java.util.Set<String> devices = new java.util.LinkedHashSet<>();
        for (Control.Ready r : ready) {
          devices.add(r.device());
        }
        if (devices.size() == 1) {
          LOG.info("device: {} (every worker)", zero.device());
          deviceSummary = zero.device();
        } else {
          for (Control.Ready r : ready) {
            LOG.info("device of rank {}: {}", r.rank(), r.device());
          }
          deviceSummary = devices.size() + " devices: " + String.join("; ", devices);
        }
        if (!a.pids().isEmpty()) { // this machine's workers: the same name is the same device
          sharedGpus(ready).forEach(LOG::warn);
        }
        LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", zero.parameters()));
        logBaselines(zero.baselines());
      }
      int s = zero.stepsDone();
      while (s < cfg.steps() && !stop.requested()) {
        List<Control.StepDone> all = a.step(s);
        rec.record(outcome(all.get(0)));
        wire.add(all);
        stepped(attempt);
        s++;
      }
      if (s < cfg.steps()) {
        stoppedAt = s;
        // Nothing new to keep if this attempt has not trained a step since its checkpoint.
        Path ck = a.stop(s, s > zero.stepsDone());
        LOG.info("stopped at step {} of {} (Ctrl-C){}", s, cfg.steps(), s == 0 ? ", before any step"
            : "; checkpoint " + (ck != null ? ck : "(the one this attempt started from)")
            + "; continue with: tessera launch --resume " + dir);
      } else {
        a.stop(s, false);
      }
    }
  }

  /**
   * A warning for each GPU that several of one host's workers opened ({@code ready}: the workers of
   * this machine, whose device names tell devices apart). Such workers take turns on the GPU, each
   * waiting for the other's kernels, so they train slower than one worker on it alone; on an OpenCL
   * CPU device workers share the cores by design and get no warning.
   */
  static List<String> sharedGpus(Control.Ready[] ready) {
    Map<String, List<Integer>> ranks = new LinkedHashMap<>();
    for (Control.Ready r : ready) {
      ranks.computeIfAbsent(r.device(), d -> new ArrayList<>()).add(r.rank());
    }
    List<String> warnings = new ArrayList<>();
    ranks.forEach((device, on) -> {
      if (on.size() > 1 && device.startsWith("OpenCL GPU")) {
        warnings.add("ranks " + on.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(", "))
            + " share one GPU (" + device + "): " + on.size() + " workers take turns on it, which is slower than "
            + "one worker on it alone (docs/gpu.md); give each worker a GPU of its own (--devices) or run fewer");
      }
    });
    return warnings;
  }

  /** After a step: the first of the run, or the first since a loss, is worth a line. */
  private void stepped(int attempt) {
    if (Double.isNaN(firstStep)) {
      firstStep = (System.nanoTime() - launched) / 1e9;
      LOG.info(String.format(Locale.ROOT, "first step done %.1f s after the launch", firstStep));
    }
    if (lost != null) {
      double took = (System.nanoTime() - lost.noticedAt()) / 1e9;
      recoveries.add(new LaunchRun.Recovery(attempt - 1, lost.getMessage(), lost.noticedAtEpochMs(), from, took));
      LOG.info(String.format(Locale.ROOT, "recovered: attempt %d trained a step %.1f s after the loss was noticed",
          attempt, took));
      lost = null;
    }
  }

  /** Attempt {@code attempt} lost a worker (its workers are gone): the next starts from the newest good checkpoint. */
  private void recover(int attempt, ClusterAttempt.WorkerLost e, RunRecorder rec) {
    lost = e;
    LOG.warn("attempt {} lost a worker: {}", attempt, e.getMessage());
    Optional<Checkpoints.Checkpoint> good = Checkpoints.latest(dir, LOG::warn);
    from = good.map(c -> c.manifest().step()).orElse(0);
    checkpoint = good.map(c -> c.dir().toString()).orElse("");
    LOG.warn("every worker of attempt {} stopped; attempt {} starts from {}", attempt, attempt + 1,
        good.map(c -> c.dir() + " (step " + c.manifest().step() + ")").orElse("step 0 (no checkpoint yet)"));
    rec.rewind(from);
  }

  private static String pidLines(List<Long> pids) {
    StringBuilder b = new StringBuilder();
    for (int r = 0; r < pids.size(); r++) {
      b.append(r).append(' ').append(pids.get(r)).append('\n');
    }
    return b.toString();
  }

  private static void logBaselines(double[] b) {
    if (b.length == 3) {
      LOG.info(String.format(Locale.ROOT, "baselines on the validation batches: Bayes optimum %.4f, in-context "
          + "unigram %.4f, context-free %.4f", b[0], b[1], b[2]));
    }
  }

  private static Shard.Outcome outcome(Control.StepDone d) {
    return new Shard.Outcome(new Trainer.StepResult(d.step(), d.loss(), d.lr(), d.gradNorm(), d.tokens(),
        d.seconds()), d.valLoss(), d.checkpoint().isEmpty() ? null : Path.of(d.checkpoint()));
  }

  /** The report's section on the cluster: the plan, what was measured against it, and every recovery. */
  private String report(LaunchRun.Stats s, RunRecorder rec) {
    StringBuilder md = new StringBuilder("## Cluster\n\n");
    md.append(plan.report()).append('\n');
    CostModel.Cost c = plan.chosen().cost();
    md.append(String.format(Locale.ROOT, "Predicted for %s: %.1f ms per step, a heap in use of %s and %s of device "
        + "tensors per worker. Measured: %.1f ms per step (mean over the recorded steps), largest worker heap in use "
        + "%s, largest device use %s; first step %.1f s after the launch.%n", plan.chosen().name(), c.stepSeconds() * 1e3,
        Planner.size(c.totalBytes()), Planner.size(c.deviceBytes()), rec.secondsPerStep() * 1e3,
        Planner.size(s.workerHeapBytes()), s.workerDeviceBytes() > 0 ? Planner.size(s.workerDeviceBytes())
            : "(tensors in the heap)", s.firstStepSeconds()));
    md.append(String.format(Locale.ROOT, "%nOn the wire per step (all workers): %s; each worker waited %.1f ms per "
        + "step for its peers' frames.%n", RunRecorder.describeWire(wire.perStep()), s.waitSecondsPerStep() * 1e3));
    if (s.stoppedAt() >= 0) {
      md.append("\nStopped at step ").append(s.stoppedAt()).append(" by Ctrl-C.\n");
    }
    if (!s.recoveries().isEmpty()) {
      md.append("\n| attempt lost | cause | restarted from step | recovery (s) |\n|---|---|---|---|\n");
      for (LaunchRun.Recovery r : s.recoveries()) {
        md.append(String.format(Locale.ROOT, "| %d | %s | %d | %.1f |%n", r.attempt(), r.cause().replace('|', '/'),
            r.fromStep(), r.seconds()));
      }
    }
    return md.toString();
  }

  /** The workers' reports of their traffic and heap, summed over the steps trained (redone ones too). */
  private static final class Wire {
    private long steps;
    private long tp;
    private long dp;
    private double wait;
    private long heap;
    private long device;

    void add(List<Control.StepDone> reports) {
      steps++;
      for (Control.StepDone d : reports) {
        tp += d.tpBytes();
        dp += d.dpBytes();
        wait += d.waitSeconds() / reports.size();
        heap = Math.max(heap, d.heapUsed());
        device = Math.max(device, d.deviceBytes());
      }
    }

    /** Bytes all workers sent per step, by mesh axis (only the axes that sent any). */
    Map<String, Double> perStep() {
      Map<String, Double> out = new LinkedHashMap<>();
      if (tp > 0) {
        out.put("tp", tp / (double) steps);
      }
      if (dp > 0) {
        out.put("dp", dp / (double) steps);
      }
      return out;
    }

    double waitPerStep() {
      return steps == 0 ? 0 : wait / steps;
    }
  }
}
