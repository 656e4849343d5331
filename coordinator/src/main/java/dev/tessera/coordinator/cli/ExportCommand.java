package dev.tessera.coordinator.cli;

import dev.tessera.worker.Checkpoints;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code tessera export RUN --out FILE}: the trained model as one safetensors file. */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Writes the model of a run's newest good checkpoint to one safetensors file (tensor names in "
        + "docs/training.md).")
final class ExportCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "RUN", description = "The run directory.")
  Path run;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The file to write (must not exist).")
  Path out;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    try {
      int step = Checkpoints.export(run, out, w -> spec.commandLine().getErr().println("tessera: " + w));
      spec.commandLine().getOut().printf("exported step %d of %s to %s%n", step, run, out);
      return 0;
    } catch (IllegalArgumentException e) {
      spec.commandLine().getErr().println("tessera: " + e.getMessage());
      return TesseraCommand.USAGE_ERROR;
    }
  }
}
