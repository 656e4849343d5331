package dev.tessera.coordinator.run;

import dev.tessera.model.train.Trainer;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * What a run directory records as the steps come in, whoever trained them (one worker, ranks as
 * threads, or worker processes reporting to the coordinator): metrics.csv, the step lines of
 * train.log, the progress bar; and at the end loss.png and report.md. A run that goes back to a
 * checkpoint ({@link #rewind}) forgets the steps after it, so the files hold each step once.
 */
final class RunRecorder implements AutoCloseable {
  private static final Logger LOG = LogManager.getLogger(RunRecorder.class);
  private static final Logger STEPS = LogManager.getLogger(RunLog.STEPS);

  private final Path dir;
  private final TrainConfig cfg;
  private final ProgressBar bar;
  private Metrics metrics;
  /** Tokens and seconds of every recorded step, by step. */
  private final TreeMap<Integer, double[]> work = new TreeMap<>();
  private double trainLoss = Double.NaN;
  private double valLoss = Double.NaN;
  private String lastCheckpoint = "none";

  /** Starts recording at {@code fromStep} (0 for a new run; a resumed run keeps the rows before it). */
  RunRecorder(Path dir, TrainConfig cfg, int fromStep, boolean tty) {
    this.dir = dir;
    this.cfg = cfg;
    Path csv = dir.resolve("metrics.csv");
    this.metrics = fromStep == 0 && !java.nio.file.Files.exists(csv) ? Metrics.create(csv)
        : Metrics.resume(csv, fromStep);
    this.bar = tty ? new ProgressBarBuilder().setTaskName("train").setInitialMax(cfg.steps())
        .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build() : null;
    if (bar != null) {
      bar.stepTo(fromStep);
    }
  }

  /** Goes back to a checkpoint after {@code step} steps: later rows are dropped from metrics.csv. */
  void rewind(int step) {
    metrics.close(); // reopened below: rewinding never follows close()
    metrics = Metrics.resume(dir.resolve("metrics.csv"), step);
    work.tailMap(step, false).clear();
    work.remove(step);
    if (bar != null) {
      bar.stepTo(step);
    }
  }

  /** Records one step (its result, validation loss or NaN, and the checkpoint written after it, or null). */
  void record(Shard.Outcome o) {
    Trainer.StepResult r = o.result();
    int done = r.step() + 1;
    work.put(r.step(), new double[] {r.tokens(), r.seconds()});
    trainLoss = r.loss();
    if (!Double.isNaN(o.valLoss())) {
      valLoss = o.valLoss();
    }
    double tps = r.tokens() / r.seconds();
    metrics.add(new Metrics.Row(r.step(), r.loss(), o.valLoss(), r.lr(), r.gradNorm(), tps));
    double avg = tokens() / seconds();
    if (done % cfg.logEvery() == 0 || done == 1 || !Double.isNaN(o.valLoss()) || done == cfg.steps()) {
      STEPS.info(String.format(Locale.ROOT, "step %d/%d loss %.4f%s lr %.3g grad-norm %.3f %,.0f tokens/s",
          done, cfg.steps(), r.loss(), Double.isNaN(o.valLoss()) ? "" : String.format(Locale.ROOT, " val %.4f",
              o.valLoss()), r.lr(), r.gradNorm(), avg));
    }
    if (bar != null) {
      bar.stepTo(done);
      bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f %,.0f tok/s", r.loss(), avg));
    }
    if (o.checkpoint() != null) {
      lastCheckpoint = o.checkpoint().toString();
      LOG.info("checkpoint: {}", lastCheckpoint);
    }
  }

  /** Bytes per step by mesh axis, in words ("tp 11.495 MB, dp 6.433 MB", or "nothing"). */
  static String describeWire(Map<String, Double> wire) {
    return wire.isEmpty() ? "nothing" : String.join(", ", wire.entrySet().stream()
        .map(e -> String.format(Locale.ROOT, "%s %.3f MB", e.getKey(), e.getValue() / 1e6)).toList());
  }

  long tokens() {
    return (long) work.values().stream().mapToDouble(w -> w[0]).sum();
  }

  double seconds() {
    return work.values().stream().mapToDouble(w -> w[1]).sum();
  }

  /** Mean seconds per recorded step. */
  double secondsPerStep() {
    return work.isEmpty() ? Double.NaN : seconds() / work.size();
  }

  double valLoss() {
    return valLoss;
  }

  /**
   * Ends the run: loss.png, report.md (with {@code extra} sections, e.g. the layout's plan and
   * recoveries) and the closing log line.
   *
   * @param finalVal the validation loss to report if no step recorded one
   */
  TrainRun.Result finish(String data, String device, long paramCount, double[] baselines, double finalVal,
      String extra) throws IOException {
    close();
    if (Double.isNaN(valLoss)) {
      valLoss = finalVal;
    }
    try {
      LossPlot.write(dir.resolve("loss.png"), metrics.rows(), baselines);
    } catch (IOException | LinkageError | InternalError | RuntimeException e) {
      // A machine without fonts or AWT libraries cannot draw (AWT's font set-up throws InternalError when
      // fontconfig finds no fonts, NoClassDefFoundError after that); the numbers are all in metrics.csv.
      LOG.warn("loss.png not written ({}); the losses are in metrics.csv", e.toString());
    }
    Report.write(dir.resolve("report.md"), new Report.Summary(data, device, paramCount, cfg, cfg.steps(),
        tokens(), seconds(), trainLoss, valLoss, baselines, lastCheckpoint, extra));
    LOG.info(String.format(Locale.ROOT, "done: %d steps, validation loss %.4f%s; report: %s", cfg.steps(), valLoss,
        baselines == null ? "" : String.format(Locale.ROOT, " (Bayes optimum %.4f, context-free %.4f)",
            baselines[0], baselines[2]), dir.resolve("report.md")));
    double s = seconds();
    return new TrainRun.Result(dir, cfg.steps(), trainLoss, valLoss, s > 0 ? tokens() / s : 0, baselines, Map.of(), null);
  }

  private boolean closed;

  /** Closes the progress bar and metrics.csv (once; {@link #finish} closes them first). */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (bar != null) {
      bar.close();
    }
    metrics.close();
  }
}
