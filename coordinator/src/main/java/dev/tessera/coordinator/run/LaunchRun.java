package dev.tessera.coordinator.run;

import dev.tessera.model.data.DataSource;
import dev.tessera.parallelism.CostModel;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
   * @param launcher how the workers start: null for worker JVMs on this machine
   */
  public record Options(int workers, boolean auto, String bind, String workerHeap, int maxRestarts,
      Duration stepTimeout, Duration heartbeat, Duration joinTimeout, Stop stop, Launcher launcher) {

    /** Worker JVMs on this machine ({@link LocalCluster}). */
    public Options(int workers, boolean auto, String bind, String workerHeap, int maxRestarts, Duration stepTimeout,
        Duration heartbeat, Duration joinTimeout, Stop stop) {
      this(workers, auto, bind, workerHeap, maxRestarts, stepTimeout, heartbeat, joinTimeout, stop, null);
    }
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
   * @param workerDeviceBytes the most device memory a worker's tensors took (0 where they live in the heap)
   * @param stoppedAt the step a stop request ended the run at, or -1 if it ran to the end
   * @param waitSecondsPerStep how long a worker waited for its peers' frames per step, on average
   * @param predictedStepSeconds the planner's step time for the layout ({@link CostModel})
   */
  public record Stats(double firstStepSeconds, List<Recovery> recoveries, long workerHeapBytes,
      long workerDeviceBytes, int stoppedAt, double waitSecondsPerStep, double predictedStepSeconds) {
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
    int cores = Runtime.getRuntime().availableProcessors();
    CostModel.Machine machine = gpu ? CostModel.Machine.gpuPerWorker(cores, workers) : CostModel.Machine.cpu(cores);
    // Every worker's heap holds its arena's host array (a GPU worker's too); a GPU worker's one arena
    // is also bounded by Aparapi, whatever memory the GPU has (checked by the planner).
    Planner.Plan p = Planner.plan(cfg, data.tokenizer().vocabSize(), workers, o.auto(), o.heapBytes(workers),
        machine);
    p.reasoning().forEach(LOG::info);
    return p;
  }

  static TrainRun.Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume, Options o,
      Planner.Plan plan) {
    boolean tty = System.console() != null;
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty)) {
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("layout: dp={} tp={} ({} worker processes, each -Xmx{}, on {}){}", cfg.dp(), cfg.tp(), cfg.workers(),
          o.heap(cfg.workers()), o.bind(), LayoutRun.describeLayout(cfg));
      Optional<Checkpoints.Checkpoint> start = resume ? Checkpoints.latest(dir, LOG::warn) : Optional.empty();
      if (resume && start.isEmpty()) {
        throw new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(dir) + " to resume from");
      }
      if (start.isPresent() && start.get().manifest().step() >= cfg.steps()) {
        throw new IllegalArgumentException("the run in " + dir + " has done all its " + cfg.steps() + " steps; give "
            + "--steps with more to train further");
      }
      return new LaunchDriver(dir, cfg, data, o, plan, tty).run(start);
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }
}
