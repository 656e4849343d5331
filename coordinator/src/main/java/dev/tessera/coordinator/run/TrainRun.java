package dev.tessera.coordinator.run;

import dev.tessera.comm.Codecs;
import dev.tessera.model.data.DataSource;
import dev.tessera.model.train.Trainer;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * One training run on one worker (or a layout of workers as threads: {@link LayoutRun}), in a run directory: config.yaml, train.log, metrics.csv,
 * checkpoints/, loss.png and report.md. {@link #start} begins a run; {@link #resume} continues one
 * from its newest good checkpoint, bit-identically.
 */
public final class TrainRun {
  private static final Logger LOG = LogManager.getLogger(TrainRun.class);
  static final String CONFIG = "config.yaml";

  /**
   * Keys that may change when a run is resumed; any other would change the maths. (The layout may:
   * a checkpoint of any layout loads on any other, and the batch options mean the global batch.)
   */
  public static final Set<String> RESUMABLE = Set.of("steps", "eval-every", "checkpoint-every", "log-every",
      "device", "devices", "dp", "tp", "sequence-parallel", "dp-overlap",
      "dp-bucket-mb");

  /**
   * How a run ended. baselines is null unless the data knows them (the built-in corpus).
   *
   * @param wireBytesPerStep bytes all workers sent per optimizer step, by mesh axis ("tp", "dp"),
   *     evaluation included; empty for one worker
   * @param launch what a launch of worker processes measured; null for other runs
   */
  public record Result(Path dir, int steps, double trainLoss, double valLoss, double tokensPerS, double[] baselines,
      Map<String, Double> wireBytesPerStep, LaunchRun.Stats launch) {
    Result withWire(Map<String, Double> wire) {
      return new Result(dir, steps, trainLoss, valLoss, tokensPerS, baselines, wire, launch);
    }

    Result withLaunch(LaunchRun.Stats stats) {
      return new Result(dir, steps, trainLoss, valLoss, tokensPerS, baselines, wireBytesPerStep, stats);
    }
  }

  private TrainRun() {
  }

  /** Reads the data (so that bad input fails before anything is written), makes the run directory and trains. */
  public static Result start(TrainConfig cfg) {
    return start(cfg, null);
  }

  /** As {@link #start(TrainConfig)}, with the workers as processes ({@code launch} non-null) or not. */
  public static Result start(TrainConfig cfg, LaunchRun.Options launch) {
    DataSource data = Shard.dataSource(cfg);
    Planner.Plan plan = launch == null ? null : LaunchRun.plan(cfg, data, launch);
    if (plan != null) {
      cfg = plan.config();
    }
    Path dir = runDirectory(cfg);
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(CONFIG), TrainConfigs.toYaml(cfg), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create run directory " + dir, e);
    }
    return run(dir, cfg, data, false, launch, plan);
  }

  /** Continues the run in {@code dir}; {@code overrides} may only hold {@link #RESUMABLE} keys. */
  public static Result resume(Path dir, Map<String, Object> overrides) {
    return resume(dir, overrides, null);
  }

  /** As {@link #resume(Path, Map)}, with the workers as processes ({@code launch} non-null) or not. */
  public static Result resume(Path dir, Map<String, Object> overrides, LaunchRun.Options launch) {
    Path configFile = dir.resolve(CONFIG);
    if (!Files.isRegularFile(configFile)) {
      throw new IllegalArgumentException(dir + " is not a run directory (no " + CONFIG + ")");
    }
    for (String k : overrides.keySet()) {
      if (!RESUMABLE.contains(k)) {
        throw new IllegalArgumentException("--" + k + " cannot change when resuming (it would change the run); only "
            + String.join(", ", RESUMABLE.stream().sorted().toList()) + " can");
      }
    }
    TrainConfig cfg = TrainConfigs.resolve(configFile, overrides);
    if (cfg.dp() > 1 && !Codecs.byName(cfg.dpCodec()).lossless()) {
      LOG.warn("resuming with dp-codec {}: its error feedback (what the codec left out so far) is not in the checkpoints; "
          + "it starts again from zero, so the continuation follows the original within the codec's error, not bit for "
          + "bit", cfg.dpCodec());
    }
    DataSource data = Shard.dataSource(cfg);
    Planner.Plan plan = launch == null ? null : LaunchRun.plan(cfg, data, launch);
    boolean changed = !overrides.isEmpty();
    if (plan != null && (plan.config().dp() != cfg.dp() || plan.config().tp() != cfg.tp())) {
      cfg = plan.config(); // the planner chose the layout (checkpoints resume on any)
      changed = true;
    }
    if (changed) {
      try {
        Files.writeString(configFile, TrainConfigs.toYaml(cfg), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot update " + configFile, e);
      }
    }
    return run(dir, cfg, data, true, launch, plan);
  }

  private static Path runDirectory(TrainConfig cfg) {
    Path dir;
    if (cfg.out() == null || cfg.out().isBlank()) {
      String name = cfg.isBuiltin() ? "markov" : Path.of(cfg.data()).getFileName().toString().replaceAll("\\W", "_");
      dir = Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + name);
    } else {
      dir = Path.of(cfg.out());
    }
    if (Files.exists(dir)) {
      try (var s = Files.list(dir)) {
        if (s.findAny().isPresent()) {
          throw new IllegalArgumentException("run directory " + dir + " already exists and is not empty; choose "
              + "another --out, or continue it with --resume " + dir);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + dir, e);
      }
    }
    return dir;
  }

  private static Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume, LaunchRun.Options launch,
      Planner.Plan plan) {
    if (launch != null) {
      return LaunchRun.run(dir, cfg, data, resume, launch, plan);
    }
    if (cfg.workers() > 1) {
      return LayoutRun.run(dir, cfg, data, resume);
    }
    boolean tty = System.console() != null;
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty);
        Shard shard = Shard.build(cfg, data, null, 0)) {
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("device: {}", shard.backend().describe());
      LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", shard.modelParameters()));
      int from = resume ? restore(dir, List.of(shard)) : 0;
      try (RunRecorder rec = new RunRecorder(dir, cfg, from, tty)) {
        return loop(dir, cfg, shard, rec, shard.backend().describe(), shard.modelParameters(), "");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  /** Loads the run's newest good checkpoint into every shard; returns its step. */
  static int restore(Path dir, List<Shard> shards) throws IOException {
    Checkpoints.Checkpoint ck = Checkpoints.latest(dir, LOG::warn).orElseThrow(() ->
        new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(dir) + " to resume from"));
    for (Shard s : shards) {
      Checkpoints.restore(ck, s.trainer());
    }
    LOG.info("resumed from {} (step {})", ck.dir(), ck.manifest().step());
    return ck.manifest().step();
  }

  /** Logs the data's baselines on the validation batches, if it knows them. */
  static double[] baselines(Trainer trainer) {
    double[] baselines = trainer.baselines().orElse(null);
    if (baselines != null) {
      LOG.info(String.format(Locale.ROOT, "baselines on the validation batches: Bayes optimum %.4f, in-context "
          + "unigram %.4f, context-free %.4f", baselines[0], baselines[1], baselines[2]));
    }
    return baselines;
  }

  /**
   * Rank 0's loop (of one worker, or of a layout whose other ranks take the same steps): train, record,
   * report. A run resumed with no step left is evaluated once (by every rank of a layout).
   */
  static Result loop(Path dir, TrainConfig cfg, Shard zero, RunRecorder rec, String device, long paramCount,
      String extra) throws IOException {
    double[] baselines = baselines(zero.trainer());
    boolean nothingLeft = zero.trainer().stepsDone() >= cfg.steps(); // the other ranks ask the same
    while (zero.trainer().stepsDone() < cfg.steps()) {
      rec.record(zero.step(dir));
    }
    double finalVal = nothingLeft ? zero.trainer().evaluate() : Double.NaN;
    return rec.finish(zero.data().describe(), device, paramCount, baselines, finalVal, extra);
  }
}
