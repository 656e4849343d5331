package dev.tessera.coordinator.cli;

import dev.tessera.kernels.DeviceUnavailableException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code tessera}: the command line. Each subcommand is a small class beside this one. */
@Command(name = "tessera", mixinStandardHelpOptions = true, versionProvider = Version.class,
    description = "Distributed training of transformer language models on the JVM.",
    subcommands = {TrainCommand.class, LaunchCommand.class, SampleCommand.class, ExportCommand.class, SelfCheckCommand.class,
        DevicesCommand.class,
        CommandLine.HelpCommand.class})
public final class TesseraCommand implements Runnable {
  /** Exit code for bad usage, a bad config or a missing device. */
  public static final int USAGE_ERROR = 2;

  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The command line with Tessera's error handling: known errors print one line, no stack trace. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new TesseraCommand());
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      if (e instanceof DeviceUnavailableException || e instanceof IllegalArgumentException) {
        line.getErr().println("tessera: " + e.getMessage());
        return USAGE_ERROR;
      }
      throw e;
    });
    return cl;
  }
}
