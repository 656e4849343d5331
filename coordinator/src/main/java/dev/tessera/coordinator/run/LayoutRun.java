package dev.tessera.coordinator.run;

import dev.tessera.comm.LocalFabric;
import dev.tessera.model.data.DataSource;
import dev.tessera.parallelism.Axis;
import dev.tessera.parallelism.ParallelDims;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * A run of a dp x tp layout with every rank a thread of this process (issue 6): each rank has its
 * own backend, model shard and trainer; they exchange through an in-JVM fabric. Rank 0 keeps the run
 * directory (log, metrics, report) as a single worker does; every rank takes the same steps and
 * evaluations and writes its file of each checkpoint ({@link Shard#checkpoint}); every rank of any
 * layout resumes from them by taking its own slices. A failure on any rank stops every rank at once.
 */
final class LayoutRun {
  private static final Logger LOG = LogManager.getLogger(LayoutRun.class);

  private LayoutRun() {
  }

  /** Bytes every worker sent, by mesh axis, per step of this run. */
  private static Map<String, Double> wirePerStep(LocalFabric fabric, ParallelDims mesh, int steps) {
    Map<String, Double> out = new java.util.LinkedHashMap<>();
    for (Axis axis : new Axis[] {Axis.TP, Axis.DP}) {
      long bytes = 0;
      for (int r = 0; r < mesh.world(); r++) {
        var counts = fabric.transport(r).traffic().snapshot().get(mesh.groupId(axis, r));
        bytes += counts == null ? 0 : counts.bytesSent();
      }
      if (bytes > 0) {
        out.put(axis.name().toLowerCase(Locale.ROOT), bytes / (double) Math.max(1, steps));
      }
    }
    return out;
  }

  static TrainRun.Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume) {
    boolean tty = System.console() != null;
    int world = cfg.workers();
    LocalFabric fabric = new LocalFabric(world);
    ExecutorService pool = Executors.newFixedThreadPool(world);
    List<Future<?>> others = new ArrayList<>();
    List<Shard> built = new ArrayList<>();
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty)) {
      // Built one after another: opening OpenCL devices from several threads at once crashed pocl.
      for (int r = 0; r < world; r++) {
        DataSource own = r == 0 ? data : Shard.dataSource(cfg); // one data source per thread
        built.add(Shard.build(cfg, own, fabric.transport(r), r));
      }
      Shard zero = built.get(0);
      ParallelDims mesh = zero.mesh();
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("layout: {} ({} workers as threads of this process){}", mesh, world, describeLayout(cfg));
      LOG.info("device: {} (one backend per worker)", zero.backend().describe());
      long count = zero.modelParameters();
      LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", count));
      int startStep = resume ? TrainRun.restore(dir, built) : 0;
      for (int r = 1; r < built.size(); r++) {
        Shard shard = built.get(r);
        int id = r;
        others.add(pool.submit(() -> {
          try {
            while (shard.trainer().stepsDone() < cfg.steps()) {
              shard.step(dir); // the same steps, evaluations and checkpoint gathers as rank 0
            }
            if (startStep >= cfg.steps()) {
              shard.trainer().evaluate(); // rank 0 evaluates a run resumed with no step left: all take part
            }
          } catch (RuntimeException | Error e) {
            fabric.kill(id); // the others stop waiting for this rank at once
            throw e;
          }
          return null;
        }));
      }
      TrainRun.Result result;
      try (RunRecorder rec = new RunRecorder(dir, cfg, startStep, tty)) {
        result = TrainRun.loop(dir, cfg, zero, rec, zero.backend().describe() + "; layout " + mesh, count, "");
      } catch (RuntimeException | Error e) {
        fabric.kill(0);
        RuntimeException root = firstFailure(others); // a failed rank makes rank 0 fail too: report the cause
        if (root != null) {
          throw root;
        }
        throw e;
      }
      for (Future<?> f : others) {
        get(f);
      }
      Map<String, Double> wire = wirePerStep(fabric, mesh, cfg.steps() - startStep);
      LOG.info("wire per step (all workers): {}", RunRecorder.describeWire(wire));
      return result.withWire(wire);
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    } finally {
      pool.shutdownNow();
      try {
        // Backends are closed only once no worker can still be using one.
        if (pool.awaitTermination(Shard.COLLECTIVE_TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
          for (Shard r : built) {
            r.close();
          }
        } else {
          LOG.warn("workers did not stop within {} s; their backends are left to the process exit",
              Shard.COLLECTIVE_TIMEOUT.toSeconds());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** The layout's options in words (sequence parallelism, how dp travels). */
  static String describeLayout(TrainConfig cfg) {
    return (cfg.sequenceParallel() ? ", sequence parallel" : "")
        + (cfg.dp() > 1 ? ", data-parallel " + (cfg.dpCompress().equals("momentum") ? "momentum (1-bit Adam)"
            : "gradients") + " as " + cfg.dpCodec() : "");
  }

  /** The first failure among finished workers (waiting briefly for the others to notice), or null. */
  private static RuntimeException firstFailure(List<Future<?>> workers) {
    for (Future<?> f : workers) {
      try {
        f.get(5, java.util.concurrent.TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof dev.tessera.comm.CommException.PeerLost)) {
          return e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (java.util.concurrent.TimeoutException e) {
        // still running: not the cause
      }
    }
    return null;
  }

  private static <T> T get(Future<T> f) {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for a worker", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException("a worker failed: " + e.getCause(), e.getCause());
    }
  }
}
