package dev.tessera.coordinator.cli;

import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.model.train.TrainingDivergedException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tessera train}: trains a GPT on one worker. Every option below is also a key of the config
 * file (same name without the dashes); options win over the file, the file over the defaults.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Trains a GPT on one worker and writes a run directory: config.yaml, train.log, metrics.csv, "
        + "loss.png, checkpoints/ and report.md.",
        "With no arguments it trains on the built-in corpus (random Markov chains) and reports the loss beside the "
        + "Bayes optimum. Defaults are shown as (default: ...)."})
final class TrainCommand implements Callable<Integer> {
  /** Options that are not config keys. */
  private static final Set<String> NOT_CONFIG = Set.of("--config", "--resume", "--help", "--version");

  @Spec
  CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML file of config keys (the options below).")
  Path config;

  @Option(names = "--resume", paramLabel = "DIR", description = "Continue the run in DIR from its newest good "
      + "checkpoint, bit-identically. Only --steps, --eval-every, --checkpoint-every, --log-every, --device and the "
      + "layout (--dp, --tp, --sequence-parallel: a checkpoint of one layout resumes on another) may be given with it.")
  Path resume;

  @Mixin
  ConfigOptions options;

  @Override
  public Integer call() {
    Map<String, Object> given = ConfigOptions.given(spec, NOT_CONFIG);
    try {
      TrainRun.Result r;
      if (resume != null) {
        if (config != null) {
          throw new IllegalArgumentException("--config cannot be combined with --resume (the run keeps its config)");
        }
        r = TrainRun.resume(resume, given);
      } else {
        TrainConfig cfg = TrainConfigs.resolve(config, given);
        r = TrainRun.start(cfg);
      }
      spec.commandLine().getOut().printf(java.util.Locale.ROOT, "run %s: %d steps, validation loss %.4f, %,.0f "
          + "tokens/s%n", r.dir(), r.steps(), r.valLoss(), r.tokensPerS());
      return 0;
    } catch (TrainingDivergedException e) {
      spec.commandLine().getErr().println("tessera: training stopped: " + e.getMessage());
      return 1;
    }
  }
}
