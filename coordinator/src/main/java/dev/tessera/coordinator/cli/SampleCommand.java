package dev.tessera.coordinator.cli;

import dev.tessera.coordinator.run.Sampler;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tessera sample}: text from a trained run. */
@Command(name = "sample", mixinStandardHelpOptions = true,
    description = "Generates text from the newest good checkpoint of a run directory.")
final class SampleCommand implements Callable<Integer> {
  @Option(names = "--run", required = true, paramLabel = "DIR", description = "The run directory.")
  Path run;

  @Option(names = "--prompt", defaultValue = "", description = "Text to continue (default: empty).")
  String prompt;

  @Option(names = "--tokens", defaultValue = "200", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--temperature", defaultValue = "0.8", description = "Softmax temperature (default: "
      + "${DEFAULT-VALUE}).")
  float temperature;

  @Option(names = "--top-k", defaultValue = "0", description = "Sample among the k likeliest tokens; 0 = all "
      + "(default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--seed", defaultValue = "1", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--device", description = "auto, gpu, cpu, java or reference (default: the run's device).")
  String device;

  @Override
  public Integer call() {
    System.out.println(Sampler.sample(run, prompt, tokens, temperature, topK, seed, device));
    return 0;
  }
}
