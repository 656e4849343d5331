package dev.tessera.coordinator.run;

import dev.tessera.comm.Group;
import dev.tessera.comm.LocalFabric;
import dev.tessera.comm.Transport;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.data.DataSource;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.train.Trainer;
import dev.tessera.parallelism.Axis;
import dev.tessera.parallelism.DataParallel;
import dev.tessera.parallelism.MeshDistribution;
import dev.tessera.parallelism.ParallelDims;
import dev.tessera.parallelism.TensorParallel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
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
 * evaluations. Checkpoints hold the whole model, in the single worker's format: under tensor
 * parallelism the workers of rank 0's tp group gather their slices for it (the same files whatever
 * the layout), and every rank of any layout resumes from them by taking its own slices. A failure on
 * any rank stops every rank at once.
 */
final class LayoutRun {
  private static final Logger LOG = LogManager.getLogger(LayoutRun.class);
  private static final Duration TIMEOUT = Duration.ofSeconds(60);

  private LayoutRun() {
  }

  /** One rank's pieces. */
  private record Rank(Backend be, Params params, Trainer trainer, TensorParallel tp, boolean checkpoints)
      implements AutoCloseable {

    /** The whole model's tensors for a checkpoint: this worker's slices joined with its tp group's. */
    Checkpoints.Whole whole() {
      Checkpoints.Whole local = Checkpoints.local(be);
      if (tp == null) {
        return local;
      }
      return (p, t) -> params.slicing(p.name())
          .map(s -> new dev.tessera.model.io.Safetensors.Entry(s.wholeDims(), tp.gatherWhole(be, t, s)))
          .orElseGet(() -> local.of(p, t));
    }

    @Override
    public void close() {
      trainer.close();
      params.close();
      be.close();
    }
  }

  private static Rank build(TrainConfig cfg, GptConfig gpt, ParallelDims mesh, LocalFabric fabric, int r,
      DataSource data) {
    Transport t = fabric.transport(r);
    TensorParallel tp = mesh.tp() == 1 ? null
        : new TensorParallel(new Group(t, mesh.groupId(Axis.TP, r), mesh.group(Axis.TP, r), TIMEOUT),
            cfg.sequenceParallel());
    DataParallel dp = mesh.dp() == 1 ? null
        : new DataParallel(new Group(t, mesh.groupId(Axis.DP, r), mesh.group(Axis.DP, r), TIMEOUT),
            dev.tessera.comm.Codecs.byName(cfg.dpCodec()), cfg.dpExactSteps(),
            DataParallel.Compress.valueOf(cfg.dpCompress().toUpperCase(java.util.Locale.ROOT)));
    Backend be = Backends.create(Backends.requested(cfg.device()));
    Params params = new Params(be, cfg.seed());
    Trainer trainer = new Trainer(new Gpt(gpt, params, tp == null ? LayerFactory.LOCAL : tp), data,
        TrainConfigs.trainerOptions(cfg), new MeshDistribution(dp, tp));
    // Rank 0's tp group gathers the slices for rank 0's checkpoints.
    return new Rank(be, params, trainer, tp, mesh.coord(r, Axis.DP) == 0);
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

  /** Parameters of the whole model, from rank 0's shards (less the vocabulary's padding rows). */
  private static long fullCount(Params params, int tp, GptConfig gpt, ParallelDims mesh) {
    long n = 0;
    for (Param p : params.all()) {
      n += (long) p.value().size() * (params.isSliced(p.name()) ? tp : 1);
    }
    return n - (long) (mesh.paddedVocab(gpt.vocabSize()) - gpt.vocabSize()) * gpt.nEmbd();
  }

  static TrainRun.Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume) {
    GptConfig gpt = TrainConfigs.gpt(cfg, data.tokenizer().vocabSize());
    ParallelDims mesh = ParallelDims.of(cfg.dp(), 1, cfg.tp(), 1, 1, cfg.workers(), gpt);
    boolean tty = System.console() != null;
    LocalFabric fabric = new LocalFabric(mesh.world());
    ExecutorService pool = Executors.newFixedThreadPool(mesh.world());
    List<Future<?>> others = new ArrayList<>();
    List<Rank> built = new ArrayList<>();
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty)) {
      // Built one after another: opening OpenCL devices from several threads at once crashed pocl.
      for (int r = 0; r < mesh.world(); r++) {
        DataSource own = r == 0 ? data : TrainRun.dataSource(cfg); // one data source per thread
        built.add(build(cfg, gpt, mesh, fabric, r, own));
      }
      Rank zero = built.get(0);
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("layout: {} ({} workers as threads of this process){}{}", mesh, mesh.world(),
          cfg.sequenceParallel() ? ", sequence parallel" : "",
          mesh.dp() > 1 ? ", data-parallel " + (cfg.dpCompress().equals("momentum") ? "momentum (1-bit Adam)"
              : "gradients") + " as " + cfg.dpCodec() : "");
      LOG.info("device: {} (one backend per worker)", zero.be().describe());
      long count = fullCount(zero.params(), mesh.tp(), gpt, mesh);
      LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", count));
      Metrics metrics;
      int startStep = 0;
      if (resume) {
        Checkpoints.Checkpoint ck = Checkpoints.latest(dir, LOG::warn).orElseThrow(() ->
            new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(dir) + " to resume from"));
        for (Rank r : built) {
          Checkpoints.restore(ck, r.trainer());
        }
        LOG.info("resumed from {} (step {}) on every worker", ck.dir(), ck.manifest().step());
        metrics = Metrics.resume(dir.resolve("metrics.csv"), ck.manifest().step());
        startStep = ck.manifest().step();
      } else {
        metrics = Metrics.create(dir.resolve("metrics.csv"));
      }
      for (int r = 1; r < built.size(); r++) {
        Rank rank = built.get(r);
        int id = r;
        others.add(pool.submit(() -> {
          try {
            follow(cfg, rank);
          } catch (RuntimeException | Error e) {
            fabric.kill(id); // the others stop waiting for this rank at once
            throw e;
          }
          return null;
        }));
      }
      TrainRun.Result result;
      try (metrics) {
        result = TrainRun.loop(dir, cfg, data, zero.trainer(), metrics, zero.be().describe() + "; layout " + mesh,
            count, tty, zero.whole());
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
      LOG.info("wire per step (all workers): {}", wire.isEmpty() ? "nothing" : wire.entrySet().stream()
          .map(e -> String.format(Locale.ROOT, "%s %.3f MB", e.getKey(), e.getValue() / 1e6))
          .collect(java.util.stream.Collectors.joining(", ")));
      return result.withWire(wire);
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    } finally {
      pool.shutdownNow();
      try {
        // Backends are closed only once no worker can still be using one.
        if (pool.awaitTermination(TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)) {
          for (Rank r : built) {
            r.close();
          }
        } else {
          LOG.warn("workers did not stop within {} s; their backends are left to the process exit",
              TIMEOUT.toSeconds());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** A rank other than 0: the same steps and evaluations as rank 0's loop, nothing written. */
  /** A rank other than 0: the same steps, evaluations and (in rank 0's tp group) checkpoint gathers. */
  private static void follow(TrainConfig cfg, Rank rank) {
    Trainer trainer = rank.trainer();
    while (trainer.stepsDone() < cfg.steps()) {
      trainer.step();
      int done = trainer.stepsDone();
      if (TrainRun.evaluates(cfg, done)) {
        trainer.evaluate();
      }
      if (rank.tp() != null && rank.checkpoints() && TrainRun.checkpoints(cfg, done)) {
        Checkpoints.forEachTensor(trainer, rank.whole(), (name, e) -> { });
      }
    }
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
