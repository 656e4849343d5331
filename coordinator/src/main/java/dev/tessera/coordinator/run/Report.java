package dev.tessera.coordinator.run;

import dev.tessera.worker.TrainConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** report.md: what was trained, on what, how fast, and how the loss compares with the baselines. */
final class Report {
  private Report() {
  }

  record Summary(String data, String device, long params, TrainConfig config, int steps, long tokens,
      double seconds, double trainLoss, double valLoss, double[] baselines, String lastCheckpoint, String extra) {
  }

  static void write(Path file, Summary s) throws IOException {
    StringBuilder md = new StringBuilder();
    md.append("# Tessera training run\n\n");
    md.append("| | |\n|---|---|\n");
    row(md, "data", s.data());
    row(md, "device", s.device());
    row(md, "model", String.format(Locale.ROOT, "%d layers, %d heads, width %d, block %d, %s, %s, %s positions; "
        + "%,d parameters", s.config().nLayer(), s.config().nHead(), s.config().nEmbd(), s.config().blockSize(),
        s.config().norm(), s.config().mlp(), s.config().positions(), s.params()));
    row(md, "optimizer", String.format(Locale.ROOT, "AdamW lr %.3g -> %.3g (warm-up %d), weight decay %.3g, "
        + "clip %.3g, batch %d x %d tokens x %d accumulation", s.config().learningRate(), s.config().minLr(),
        s.config().warmupSteps(), s.config().weightDecay(), s.config().gradClip(), s.config().batchSize(),
        s.config().blockSize(), s.config().gradAccum()));
    row(md, "steps", Integer.toString(s.steps()));
    row(md, "tokens", String.format(Locale.ROOT, "%,d", s.tokens()));
    row(md, "time", String.format(Locale.ROOT, "%.1f s (%,.0f tokens/s)", s.seconds(), s.tokens() / s.seconds()));
    row(md, "final train loss", String.format(Locale.ROOT, "%.4f", s.trainLoss()));
    row(md, "final validation loss", String.format(Locale.ROOT, "%.4f", s.valLoss()));
    row(md, "last checkpoint", s.lastCheckpoint());
    if (s.baselines() != null) {
      double[] b = s.baselines();
      md.append("\n## Against the baselines (validation batches)\n\n");
      md.append("| predictor | loss (nats/token) |\n|---|---|\n");
      md.append(String.format(Locale.ROOT, "| this model | %.4f |%n", s.valLoss()));
      md.append(String.format(Locale.ROOT, "| Bayes optimum (posterior predictive of the in-context counts) | %.4f |%n",
          b[0]));
      md.append(String.format(Locale.ROOT, "| in-context unigram | %.4f |%n", b[1]));
      md.append(String.format(Locale.ROOT, "| context-free, ln(alphabet) | %.4f |%n", b[2]));
      md.append(String.format(Locale.ROOT, "%nRemaining gap to the Bayes optimum: %.4f nats/token (%.0f%% of the way "
          + "from ln(alphabet) to the optimum covered).%n", s.valLoss() - b[0], 100 * (b[2] - s.valLoss())
          / (b[2] - b[0])));
    }
    if (s.extra() != null && !s.extra().isEmpty()) {
      md.append('\n').append(s.extra());
    }
    md.append("\n![loss](loss.png)\n\nFiles: `config.yaml` (the resolved config), `metrics.csv`, `train.log`"
        + ("none".equals(s.lastCheckpoint()) ? " (no checkpoint was kept).\n" : ", `checkpoints/`.\n"));
    Files.writeString(file, md.toString(), StandardCharsets.UTF_8);
  }

  private static void row(StringBuilder md, String k, String v) {
    md.append("| ").append(k).append(" | ").append(v).append(" |\n");
  }
}
