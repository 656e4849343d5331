package dev.tessera.coordinator.run;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Params;
import dev.tessera.model.data.DataSource;
import dev.tessera.model.data.MarkovSource;
import dev.tessera.model.data.TextSource;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * One training run on one worker (or a layout of workers as threads: {@link LayoutRun}), in a run directory: config.yaml, train.log, metrics.csv,
 * checkpoints/, loss.png and report.md. {@link #start} begins a run; {@link #resume} continues one
 * from its newest good checkpoint, bit-identically.
 */
public final class TrainRun {
  private static final Logger LOG = LogManager.getLogger(TrainRun.class);
  private static final Logger STEPS = LogManager.getLogger(RunLog.STEPS);
  static final String CONFIG = "config.yaml";

  /** Whether a checkpoint is written after {@code done} steps (every worker of a layout asks). */
  static boolean checkpoints(TrainConfig cfg, int done) {
    return done == cfg.steps() || (cfg.checkpointEvery() > 0 && done % cfg.checkpointEvery() == 0);
  }

  /**
   * Keys that may change when a run is resumed; any other would change the maths. (The layout may:
   * checkpoints hold the whole model, and the batch options mean the global batch.)
   */
  public static final Set<String> RESUMABLE = Set.of("steps", "eval-every", "checkpoint-every", "log-every",
      "device", "dp", "tp", "sequence-parallel");

  /** How a run ended. baselines is null unless the data knows them (the built-in corpus). */
  /**
   * @param wireBytesPerStep bytes all workers sent per optimizer step, by mesh axis ("tp", "dp"),
   *     evaluation included; empty for one worker
   */
  public record Result(Path dir, int steps, double trainLoss, double valLoss, double tokensPerS, double[] baselines,
      java.util.Map<String, Double> wireBytesPerStep) {
    Result withWire(java.util.Map<String, Double> wire) {
      return new Result(dir, steps, trainLoss, valLoss, tokensPerS, baselines, wire);
    }
  }

  private TrainRun() {
  }

  /** Reads the data (so that bad input fails before anything is written), makes the run directory and trains. */
  public static Result start(TrainConfig cfg) {
    DataSource data = dataSource(cfg);
    Path dir = runDirectory(cfg);
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(CONFIG), TrainConfigs.toYaml(cfg), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create run directory " + dir, e);
    }
    return run(dir, cfg, data, false);
  }

  /** Continues the run in {@code dir}; {@code overrides} may only hold {@link #RESUMABLE} keys. */
  public static Result resume(Path dir, Map<String, Object> overrides) {
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
    if (!overrides.isEmpty()) {
      try {
        Files.writeString(configFile, TrainConfigs.toYaml(cfg), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot update " + configFile, e);
      }
    }
    return run(dir, cfg, dataSource(cfg), true);
  }

  static DataSource dataSource(TrainConfig cfg) {
    if (cfg.isBuiltin()) {
      return new MarkovSource(cfg.markovOrder(), cfg.markovAlphabet(), cfg.markovAlpha());
    }
    return TextSource.load(Path.of(cfg.data()), cfg.tokenizer(), cfg.valFraction(), cfg.blockSize());
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

  private static Result run(Path dir, TrainConfig cfg, DataSource data, boolean resume) {
    if (cfg.workers() > 1) {
      return LayoutRun.run(dir, cfg, data, resume);
    }
    boolean tty = System.console() != null;
    GptConfig gpt = TrainConfigs.gpt(cfg, data.tokenizer().vocabSize());
    try (RunLog log = new RunLog(dir.resolve("train.log"), !tty);
        Backend be = Backends.create(Backends.requested(cfg.device()));
        Params params = new Params(be, cfg.seed());
        Trainer trainer = new Trainer(new Gpt(gpt, params, LayerFactory.LOCAL), data,
            TrainConfigs.trainerOptions(cfg))) {
      LOG.info("run directory: {}", dir.toAbsolutePath());
      LOG.info("data: {}", data.describe());
      LOG.info("device: {}", be.describe());
      LOG.info("model: {} parameters", String.format(Locale.ROOT, "%,d", params.count()));
      Metrics metrics;
      if (resume) {
        Checkpoints.Checkpoint ck = Checkpoints.latest(dir, LOG::warn).orElseThrow(() ->
            new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(dir) + " to resume from"));
        Checkpoints.restore(ck, trainer);
        LOG.info("resumed from {} (step {})", ck.dir(), ck.manifest().step());
        metrics = Metrics.resume(dir.resolve("metrics.csv"), ck.manifest().step());
      } else {
        metrics = Metrics.create(dir.resolve("metrics.csv"));
      }
      try (metrics) {
        return loop(dir, cfg, data, trainer, metrics, be.describe(), params.count(), tty, Checkpoints.local(be));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  /** Whether step {@code done} of {@code cfg} evaluates (every rank of a layout must agree). */
  static boolean evaluates(TrainConfig cfg, int done) {
    return done == cfg.steps() || (cfg.evalEvery() > 0 && done % cfg.evalEvery() == 0);
  }

  static Result loop(Path dir, TrainConfig cfg, DataSource data, Trainer trainer, Metrics metrics,
      String device, long paramCount, boolean tty, Checkpoints.Whole whole) throws IOException {
    double[] baselines = trainer.baselines().orElse(null);
    if (baselines != null) {
      LOG.info(String.format(Locale.ROOT, "baselines on the validation batches: Bayes optimum %.4f, in-context "
          + "unigram %.4f, context-free %.4f", baselines[0], baselines[1], baselines[2]));
    }
    ProgressBar bar = tty ? new ProgressBarBuilder().setTaskName("train").setInitialMax(cfg.steps())
        .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build() : null;
    long tokens = 0;
    double seconds = 0;
    double trainLoss = Double.NaN;
    double valLoss = Double.NaN;
    String lastCheckpoint = "none";
    try {
      if (bar != null) {
        bar.stepTo(trainer.stepsDone());
      }
      while (trainer.stepsDone() < cfg.steps()) {
        Trainer.StepResult r = trainer.step();
        tokens += r.tokens();
        seconds += r.seconds();
        trainLoss = r.loss();
        int done = trainer.stepsDone();
        boolean last = done == cfg.steps();
        double val = Double.NaN;
        if (evaluates(cfg, done)) {
          val = trainer.evaluate();
          valLoss = val;
        }
        double tps = r.tokens() / r.seconds();
        metrics.add(new Metrics.Row(r.step(), r.loss(), val, r.lr(), r.gradNorm(), tps));
        if (done % cfg.logEvery() == 0 || done == 1 || !Double.isNaN(val) || last) {
          STEPS.info(String.format(Locale.ROOT, "step %d/%d loss %.4f%s lr %.3g grad-norm %.3f %,.0f tokens/s",
              done, cfg.steps(), r.loss(), Double.isNaN(val) ? "" : String.format(Locale.ROOT, " val %.4f", val),
              r.lr(), r.gradNorm(), tokens / seconds));
        }
        if (bar != null) {
          bar.stepTo(done);
          bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f %,.0f tok/s", r.loss(), tokens / seconds));
        }
        if (checkpoints(cfg, done)) {
          lastCheckpoint = Checkpoints.write(dir, trainer, data.tokenizer().spec(), whole).toString();
          LOG.info("checkpoint: {}", lastCheckpoint);
        }
      }
    } finally {
      if (bar != null) {
        bar.close();
      }
    }
    if (Double.isNaN(valLoss)) {
      valLoss = trainer.evaluate();
    }
    try {
      LossPlot.write(dir.resolve("loss.png"), metrics.rows(), baselines);
    } catch (IOException | LinkageError | RuntimeException e) {
      // A machine without fonts or AWT libraries cannot draw; the numbers are all in metrics.csv.
      LOG.warn("loss.png not written ({}); the losses are in metrics.csv", e.toString());
    }
    Report.write(dir.resolve("report.md"), new Report.Summary(data.describe(), device, paramCount, cfg, cfg.steps(),
        tokens, seconds, trainLoss, valLoss, baselines, lastCheckpoint));
    LOG.info(String.format(Locale.ROOT, "done: %d steps, validation loss %.4f%s; report: %s", cfg.steps(), valLoss,
        baselines == null ? "" : String.format(Locale.ROOT, " (Bayes optimum %.4f, context-free %.4f)",
            baselines[0], baselines[2]), dir.resolve("report.md")));
    return new Result(dir, cfg.steps(), trainLoss, valLoss, seconds > 0 ? tokens / seconds : 0, baselines,
        java.util.Map.of());
  }
}
