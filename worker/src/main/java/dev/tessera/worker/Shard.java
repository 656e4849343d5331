package dev.tessera.worker;

import dev.tessera.comm.Codec;
import dev.tessera.comm.Codecs;
import dev.tessera.comm.Group;
import dev.tessera.comm.Transport;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.data.DataSource;
import dev.tessera.model.data.MarkovSource;
import dev.tessera.model.data.ShardSource;
import dev.tessera.model.data.TextSource;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.train.Distribution;
import dev.tessera.model.train.Trainer;
import dev.tessera.parallelism.Axis;
import dev.tessera.parallelism.DataParallel;
import dev.tessera.parallelism.MeshDistribution;
import dev.tessera.parallelism.ParallelDims;
import dev.tessera.parallelism.TensorParallel;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One worker's part of a run: its backend, its shard of the model, its trainer, and its place in
 * the mesh. Whether the ranks are threads of one process ({@code tessera train --dp --tp}) or worker
 * processes ({@code tessera launch}), each builds a shard the same way and takes the same steps:
 * {@link #step} trains one optimizer step, evaluates and checkpoints when the config says so.
 * Checkpoints hold a file per rank of the first data-parallel replica, which any mesh reads.
 */
public final class Shard implements AutoCloseable {
  private static final org.apache.logging.log4j.Logger LOG =
      org.apache.logging.log4j.LogManager.getLogger(Shard.class);
  /** How long a collective waits for a peer before it names the peer and fails. */
  public static final Duration COLLECTIVE_TIMEOUT = Duration.ofSeconds(60);

  private final TrainConfig cfg;
  private final GptConfig gpt;
  private final ParallelDims mesh;
  private final int rank;
  private final DataSource data;
  private final Backend be;
  private final Params params;
  private final Trainer trainer;
  private final TensorParallel tp;

  /** What a worker did in one optimizer step. */
  public record Outcome(Trainer.StepResult result, double valLoss, Path checkpoint) {
  }

  private Shard(TrainConfig cfg, GptConfig gpt, ParallelDims mesh, int rank, DataSource data, Backend be,
      Params params, Trainer trainer, TensorParallel tp) {
    this.cfg = cfg;
    this.gpt = gpt;
    this.mesh = mesh;
    this.rank = rank;
    this.data = data;
    this.be = be;
    this.params = params;
    this.trainer = trainer;
    this.tp = tp;
  }

  /** The data of a run (bad input fails here, before anything is written). */
  public static DataSource dataSource(TrainConfig cfg) {
    if (cfg.isBuiltin()) {
      return new MarkovSource(cfg.markovOrder(), cfg.markovAlphabet(), cfg.markovAlpha());
    }
    Path path = Path.of(cfg.data());
    if (ShardSource.isShardDirectory(path)) {
      return ShardSource.load(path, cfg.blockSize()); // tokenised already (tessera-spark shard): its own tokenizer
    }
    return TextSource.load(path, cfg.tokenizer(), cfg.valFraction(), cfg.blockSize());
  }

  /**
   * The OpenCL device rank {@code rank} opens: the (rank mod n)-th of the config's {@code devices}, or,
   * without them, device number {@code rank} (which wraps round the devices there are).
   */
  static int device(TrainConfig cfg, int rank) {
    List<Integer> ds = cfg.devices();
    return ds.isEmpty() ? rank : ds.get(rank % ds.size());
  }

  /** The mesh of a config's layout, checked against the model. */
  public static ParallelDims mesh(TrainConfig cfg, GptConfig gpt) {
    return ParallelDims.of(cfg.dp(), 1, cfg.tp(), 1, 1, cfg.workers(), gpt);
  }

  /**
   * Builds rank {@code rank}'s shard. {@code transport} carries the mesh's collectives; it may be
   * null for a worker alone (dp = tp = 1).
   */
  public static Shard build(TrainConfig cfg, DataSource data, Transport transport, int rank) {
    return build(cfg, data, transport, rank, -1);
  }

  /**
   * As {@link #build(TrainConfig, DataSource, Transport, int)}, on OpenCL device number {@code device}
   * of the requested kind (which must exist) when it is 0 or more: a Spark task takes the GPU that
   * Spark's resource scheduling gave it. With -1, the config's {@code devices} decide ({@link #device}).
   */
  public static Shard build(TrainConfig cfg, DataSource data, Transport transport, int rank, int device) {
    // One at a time in a JVM: opening OpenCL devices from several threads at once crashed pocl
    // (ranks as threads, Spark tasks).
    synchronized (Shard.class) {
      return buildAlone(cfg, data, transport, rank, device);
    }
  }

  private static Shard buildAlone(TrainConfig cfg, DataSource data, Transport transport, int rank, int device) {
    GptConfig gpt = TrainConfigs.gpt(cfg, data.tokenizer().vocabSize());
    ParallelDims mesh = mesh(cfg, gpt);
    TensorParallel tp = null;
    DataParallel dp = null;
    if (mesh.world() > 1) {
      if (transport == null || transport.size() < mesh.world()) {
        throw new IllegalArgumentException("layout " + mesh + " needs a transport of " + mesh.world() + " ranks");
      }
      if (mesh.tp() > 1) {
        tp = new TensorParallel(group(transport, mesh, Axis.TP, rank), cfg.sequenceParallel());
      }
      if (mesh.dp() > 1) {
        dp = new DataParallel(group(transport, mesh, Axis.DP, rank), Codecs.byName(cfg.dpCodec()),
            cfg.dpExactSteps(), DataParallel.Compress.valueOf(cfg.dpCompress().toUpperCase(Locale.ROOT)),
            cfg.dpOverlap(), DataParallel.bucketFloats(cfg.dpBucketMb()));
        Codec codec = Codecs.byName(cfg.dpCodec());
        if (!codec.lossless()) {
          LOG.info("rank {}: dp sums encoded with {} on {} codec threads (-D{})", rank, codec.name(),
              Group.codecPoolSize(), Group.CODEC_THREADS_PROPERTY);
        }
      }
    }
    // Worker r takes device r mod their count, one GPU each on a host with several, unless told which.
    int d = device >= 0 ? device : device(cfg, rank);
    Backend be = Backends.create(Backends.requested(cfg.device()), d, device < 0 && cfg.devices().isEmpty());
    Params params = null;
    try {
      params = new Params(be, cfg.seed());
      Distribution dist = mesh.world() == 1 ? Distribution.ALONE : new MeshDistribution(dp, tp);
      Trainer trainer = new Trainer(new Gpt(gpt, params, tp == null ? LayerFactory.LOCAL : tp), data,
          TrainConfigs.trainerOptions(cfg), dist);
      return new Shard(cfg, gpt, mesh, rank, data, be, params, trainer, tp);
    } catch (RuntimeException | Error e) {
      if (params != null) {
        params.close();
      }
      be.close();
      throw e;
    }
  }

  private static Group group(Transport t, ParallelDims mesh, Axis axis, int rank) {
    return new Group(t, mesh.groupId(axis, rank), mesh.group(axis, rank), COLLECTIVE_TIMEOUT);
  }

  public Trainer trainer() {
    return trainer;
  }

  public Backend backend() {
    return be;
  }

  public ParallelDims mesh() {
    return mesh;
  }

  public DataSource data() {
    return data;
  }

  /** Whether this worker writes the run's checkpoints (rank 0). */
  public boolean writesCheckpoints() {
    return rank == 0;
  }

  /** Whether this worker takes part in checkpoints: rank 0, and under tp the rest of its tp group. */
  private boolean inCheckpointGroup() {
    return rank == 0 || (tp != null && mesh.coord(rank, Axis.DP) == 0);
  }

  /** Parameters of the whole model, from this worker's shards (less the vocabulary's padding rows). */
  public long modelParameters() {
    long n = 0;
    for (Param p : params.all()) {
      n += (long) p.value().size() * (params.isSliced(p.name()) ? mesh.tp() : 1);
    }
    return n - (long) (mesh.paddedVocab(gpt.vocabSize()) - gpt.vocabSize()) * gpt.nEmbd();
  }

  /**
   * One optimizer step, then the evaluation and the checkpoint the config asks for after it (every
   * worker of a layout must call this for the same steps). Rank 0 writes the checkpoint into
   * {@code run}'s checkpoints; the rest of its tp group gather their slices for it.
   */
  public Outcome step(Path run) throws IOException {
    Trainer.StepResult r = trainer.step();
    int done = trainer.stepsDone();
    double val = cfg.evaluatesAt(done) ? trainer.evaluate() : Double.NaN;
    return new Outcome(r, val, cfg.checkpointsAt(done) ? checkpoint(run) : null);
  }

  /**
   * Checkpoints the state after the steps done so far (every worker of a layout calls it at the same
   * point). The ranks of the first data-parallel replica (rank 0's tp group) each write their own
   * file, between two tp barriers; rank 0 then completes the checkpoint and returns its directory.
   * The other replicas hold the same state and write nothing. Null on every rank but 0.
   */
  public Path checkpoint(Path run) throws IOException {
    if (!inCheckpointGroup()) {
      return null;
    }
    int step = trainer.stepsDone();
    if (writesCheckpoints()) {
      Checkpoints.begin(run, step);
    }
    tpBarrier(); // step-N.tmp exists
    Checkpoints.writeRank(Checkpoints.tmpDir(run, step), rank, step, trainer);
    tpBarrier(); // every rank's file is written
    if (!writesCheckpoints()) {
      return null;
    }
    Map<String, Integer> layout = new LinkedHashMap<>();
    for (Axis a : Axis.values()) {
      layout.put(a.name().toLowerCase(Locale.ROOT), mesh.size(a));
    }
    List<Integer> ranks = new ArrayList<>();
    for (int r : mesh.group(Axis.TP, 0)) {
      ranks.add(r);
    }
    return Checkpoints.commit(run, trainer, data.tokenizer().spec(), layout, ranks);
  }

  private void tpBarrier() {
    if (tp != null) {
      tp.barrier();
    }
  }

  @Override
  public void close() {
    trainer.close();
    params.close();
    be.close();
  }
}
