package dev.tessera.coordinator.run;

import dev.tessera.model.data.DataSource;
import dev.tessera.parallelism.CostModel;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.Control;
import dev.tessera.worker.Faults;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * A run whose workers are processes ({@code tessera launch}): this process is the coordinator.
 * Each attempt forks one worker JVM per rank ({@link LocalCluster}), joins their Hazelcast cluster
 * as its last member, hands every worker its plan and then drives the steps one by one
 * ({@link ClusterAttempt}), recording rank 0's report of each in the run directory as {@code tessera
 * train} does. When a worker dies (noticed from its process, or from the cluster's membership) the
 * step stops: every worker of the attempt is killed and a new attempt starts from the newest good
 * checkpoint, up to {@link Options#maxRestarts} times. A worker that fails for a reason a restart
 * cannot cure (a NaN loss, bad data) ends the run with its message.
 */
public final class LaunchRun {
  private static final Logger LOG = LogManager.getLogger(LaunchRun.class);

  /**
   * How the workers run.
   *
   * @param workers how many worker processes (0: as many as the config's layout has)
   * @param auto let the planner choose the layout for the workers
   * @param bind the interface every member listens on (loopback for a local launch)
   * @param workerHeap each worker JVM's -Xmx (e.g. "2g"), also the planner's memory budget per worker; null for
   *     {@link #defaultHeap}
   * @param maxRestarts how many times lost workers are replaced before the run gives up
   * @param stepTimeout the longest a step may take before the workers are taken for hung
   * @param heartbeat how long a silent member stays in the cluster
   * @param joinTimeout how long the members of an attempt may take to start and join
   * @param stop Ctrl-C's request to stop after the current step (may be null)
   */
  public record Options(int workers, boolean auto, String bind, String workerHeap, int maxRestarts,
      Duration stepTimeout, Duration heartbeat, Duration joinTimeout, Stop stop) {
    /** Each worker's -Xmx when there are {@code n} workers: --worker-heap, or the default for n. */
    public String heap(int n) {
      return workerHeap == null ? defaultHeap(n) : workerHeap;
    }

    /** {@link #heap} in bytes ("512m", "2g", "1073741824"). */
    long heapBytes(int n) {
      String h = heap(n).trim().toLowerCase(Locale.ROOT);
      long unit = h.endsWith("g") ? 1L << 30 : h.endsWith("m") ? 1L << 20 : h.endsWith("k") ? 1L << 10 : 1;
      try {
        return Long.parseLong(unit == 1 ? h : h.substring(0, h.length() - 1)) * unit;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--worker-heap: '" + workerHeap + "' is not a size like 512m or 2g", e);
      }
    }

    /** A heap for each of {@code workers} JVMs: three quarters of this machine's memory shared out, 512m to 32g. */
    public static String defaultHeap(int workers) {
      long total = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
          .getOperatingSystemMXBean()).getTotalMemorySize();
      long each = Math.max(512L << 20, Math.min(32L << 30, total * 3 / 4 / Math.max(1, workers)));
      return (each >> 20) + "m";
    }
  }

  /**
   * A request to stop at the next step boundary, with a checkpoint (Ctrl-C), and the signal that
   * whoever ran the launch is done with it (so that a shutdown hook can wait for that).
   */
  public static final class Stop {
    private volatile boolean requested;
    private final CountDownLatch finished = new CountDownLatch(1);

    public void request() {
      requested = true;
    }

    boolean requested() {
      return requested;
    }

    /** Called by the launch's caller once it has reported the outcome. */
    public void finished() {
      finished.countDown();
    }

    /** Waits until {@link #finished}; false if that took longer than {@code timeout}. */
    public boolean awaitFinished(Duration timeout) throws InterruptedException {
      return finished.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** One lost attempt: what was lost, when it was noticed, where the run went back to, how long that took. */
  public record Recovery(int attempt, String cause, long noticedAtEpochMs, int fromStep, double seconds) {
  }

  /**
   * What a launch measured.
   *
   * @param firstStepSeconds from the launch to the first step done (JVM start, join, build, one step)
   * @param stoppedAt the step a stop request ended the run at, or -1 if it ran to the end
   * @param waitSecondsPerStep how long a worker waited for its peers' frames per step, on average
   */
  public record Stats(double firstStepSeconds, List<Recovery> recoveries, long workerHeapBytes, int stoppedAt,
      double waitSecondsPerStep) {
  }

  /** The workers' reports of their traffic, summed over the steps trained (redone ones too). */
  private static final class Wire {
    private long steps;
    private long tp;
    private long dp;
    private double wait;
    private long heap;

    void add(List<Control.StepDone> reports) {
      steps++;
      for (Control.StepDone d : reports) {
        tp += d.tpBytes();
        dp += d.dpBytes();
        wait += d.waitSeconds() / reports.size();
        heap = Math.max(heap, d.heapUsed());
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

  private LaunchRun() {
  }

  /**
   * Checks the config's layout against the workers and the model, or (auto) chooses one; logs the
   * planner's reasoning. Called before anything is written, so an impossible layout loses nothing.
   */
  static Planner.Plan plan(TrainConfig cfg, DataSource data, Options o) {
    int workers = o.workers() == 0 ? cfg.workers() : o.workers();
    boolean gpu = "gpu".equals(cfg.device());
    CostModel.Machine machine = gpu ? CostModel.Machine.gpuPerWorker()
        : CostModel.Machine.cpu(Runtime.getRuntime().availableProcessors());
    // A GPU worker keeps the model in device memory, which the coordinator cannot see: not checked.
    Planner.Plan p = Planner.plan(cfg, data.tokenizer().vocabSize(), workers, o.auto(),
        gpu ? 0 : o.heapBytes(workers), machine);
    p.reasoning().forEach(LOG::info);
    return p;
  }

  static TrainRun.Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume, Options o,
      Planner.Plan plan) {
    boolean tty = System.console() != null;
    Stop stop = o.stop() == null ? new Stop() : o.stop();
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty)) {
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("layout: dp={} tp={} ({} worker processes, each -Xmx{}, on {}){}", cfg.dp(), cfg.tp(), cfg.workers(),
          o.heap(cfg.workers()), o.bind(), LayoutRun.describeLayout(cfg));
      Optional<Checkpoints.Checkpoint> start = resume ? Checkpoints.latest(dir, LOG::warn) : Optional.empty();
      if (resume && start.isEmpty()) {
        throw new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(dir) + " to resume from");
      }
      int from = start.map(c -> c.manifest().step()).orElse(0);
      if (from >= cfg.steps()) {
        throw new IllegalArgumentException("the run in " + dir + " has done all its " + cfg.steps() + " steps; give "
            + "--steps with more to train further");
      }
      String checkpoint = start.map(c -> c.dir().toString()).orElse("");
      String fault = System.getenv(Faults.ENV);
      List<Recovery> recoveries = new ArrayList<>();
      long launched = System.nanoTime();
      double firstStep = Double.NaN;
      long heap = 0;
      Wire wire = new Wire();
      int stoppedAt = -1;
      Control.Ready zero = null;
      try (RunRecorder rec = new RunRecorder(dir, cfg, from, tty)) {
        ClusterAttempt.WorkerLost lost = null; // the loss being recovered from, until a step is done again
        for (int attempt = 1; ; attempt++) {
          try (ClusterAttempt a = ClusterAttempt.start(dir, cfg.workers(), attempt, o, attempt == 1 ? fault : null,
              stop)) {
            Files.writeString(dir.resolve("workers").resolve("attempt-" + attempt + ".pids"), pidLines(a.pids()),
                StandardCharsets.UTF_8);
            Control.Ready[] ready = a.ready(new Control.Plan(attempt, dir.toAbsolutePath().toString(),
                TrainConfigs.toYaml(cfg), checkpoint, (int) o.stepTimeout().toSeconds()));
            zero = ready[0];
            for (Control.Ready r : ready) {
              heap = Math.max(heap, r.memoryBytes());
            }
            if (attempt == 1) {
              LOG.info("device: {} (each worker; rank 0's)", zero.device());
              LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", zero.parameters()));
              logBaselines(zero.baselines());
            }
            int s = zero.stepsDone();
            while (s < cfg.steps() && !stop.requested()) {
              List<Control.StepDone> all = a.step(s);
              Control.StepDone d = all.get(0);
              rec.record(outcome(d));
              wire.add(all);
              if (Double.isNaN(firstStep)) {
                firstStep = (System.nanoTime() - launched) / 1e9;
                LOG.info(String.format(Locale.ROOT, "first step done %.1f s after the launch", firstStep));
              }
              if (lost != null) {
                double took = (System.nanoTime() - lost.noticedAt()) / 1e9;
                recoveries.add(new Recovery(attempt - 1, lost.getMessage(), lost.noticedAtEpochMs(), from, took));
                LOG.info(String.format(Locale.ROOT, "recovered: attempt %d trained a step %.1f s after the loss was "
                    + "noticed", attempt, took));
                lost = null;
              }
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
            break;
          } catch (ClusterAttempt.WorkerLost e) {
            if (attempt > o.maxRestarts()) {
              throw new IllegalStateException(e.getMessage() + "; gave up after " + o.maxRestarts() + " restart(s) "
                  + "(--max-restarts). The checkpoints are intact: continue with tessera launch --resume " + dir, e);
            }
            lost = e;
            LOG.warn("attempt {} lost a worker: {}", attempt, e.getMessage());
            Optional<Checkpoints.Checkpoint> good = Checkpoints.latest(dir, LOG::warn);
            from = good.map(c -> c.manifest().step()).orElse(0);
            checkpoint = good.map(c -> c.dir().toString()).orElse("");
            LOG.warn("every worker of attempt {} stopped; attempt {} starts from {}", attempt, attempt + 1,
                good.map(c -> c.dir() + " (step " + c.manifest().step() + ")").orElse("step 0 (no checkpoint yet)"));
            rec.rewind(from);
          }
        }
        heap = Math.max(heap, wire.heap);
        Stats stats = new Stats(firstStep, List.copyOf(recoveries), heap, stoppedAt, wire.waitPerStep());
        LOG.info("wire per step (all workers): {}; waiting on peers {} ms per step and worker", wire.perStep()
            .isEmpty() ? "nothing" : wire.perStep().entrySet().stream().map(e -> String.format(Locale.ROOT, "%s %.3f MB",
                e.getKey(), e.getValue() / 1e6)).collect(java.util.stream.Collectors.joining(", ")),
            String.format(Locale.ROOT, "%.1f", stats.waitSecondsPerStep() * 1e3));
        String device = (zero == null ? "?" : zero.device()) + "; " + cfg.workers() + " worker processes, dp="
            + cfg.dp() + " tp=" + cfg.tp();
        TrainRun.Result r = rec.finish(data.describe(), device, zero == null ? 0 : zero.parameters(),
            zero == null || zero.baselines().length == 0 ? null : zero.baselines(), Double.NaN,
            report(plan, stats, rec, wire.perStep()));
        return r.withLaunch(stats).withWire(wire.perStep());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
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
    return new Shard.Outcome(new dev.tessera.model.train.Trainer.StepResult(d.step(), d.loss(), d.lr(), d.gradNorm(),
        d.tokens(), d.seconds()), d.valLoss(), d.checkpoint().isEmpty() ? null : Path.of(d.checkpoint()));
  }

  /** The report's section on the cluster: the plan, what was measured against it, and every recovery. */
  private static String report(Planner.Plan plan, Stats s, RunRecorder rec, Map<String, Double> wire) {
    StringBuilder md = new StringBuilder("## Cluster\n\n");
    md.append(plan.report()).append('\n');
    md.append(String.format(Locale.ROOT, "Predicted for %s: %.1f ms per step, %s per worker. Measured: %.1f ms per "
        + "step (mean over the recorded steps), largest worker heap in use %s; first step %.1f s after the launch.%n",
        plan.chosen().name(), plan.chosen().cost().stepSeconds() * 1e3, Planner.size(plan.chosen().cost()
            .totalBytes()), rec.secondsPerStep() * 1e3, Planner.size(s.workerHeapBytes()), s.firstStepSeconds()));
    md.append(String.format(Locale.ROOT, "%nOn the wire per step (all workers): %s; each worker waited %.1f ms per "
        + "step for its peers' frames.%n", wire.isEmpty() ? "nothing" : String.join(", ", wire.entrySet().stream()
            .map(e -> String.format(Locale.ROOT, "%s %.3f MB", e.getKey(), e.getValue() / 1e6)).toList()),
        s.waitSecondsPerStep() * 1e3));
    if (s.stoppedAt() >= 0) {
      md.append("\nStopped at step ").append(s.stoppedAt()).append(" by Ctrl-C (checkpointed).\n");
    }
    if (!s.recoveries().isEmpty()) {
      md.append("\n| attempt lost | cause | restarted from step | recovery (s) |\n|---|---|---|---|\n");
      for (Recovery r : s.recoveries()) {
        md.append(String.format(Locale.ROOT, "| %d | %s | %d | %.1f |%n", r.attempt(), r.cause().replace('|', '/'),
            r.fromStep(), r.seconds()));
      }
    }
    return md.toString();
  }
}
