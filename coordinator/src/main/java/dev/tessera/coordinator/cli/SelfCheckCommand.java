package dev.tessera.coordinator.cli;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.check.SelfCheck;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code tessera selfcheck}: every kernel against the reference on the chosen device. */
@Command(name = "selfcheck", mixinStandardHelpOptions = true,
    description = {"Runs every op (forward and backward) on the chosen device and on the plain-Java reference, "
        + "and prints the device, each op's largest relative difference and time, and matmul throughput.",
        "Exit code 0 when every op matches within 1e-5, 1 otherwise, 2 when the device is missing."})
final class SelfCheckCommand implements Callable<Integer> {
  @Mixin
  DeviceOption device = new DeviceOption();

  @Override
  public Integer call() {
    try (Backend backend = device.open()) {
      return SelfCheck.run(backend, new PrintStream(System.out, true)) == 0 ? 0 : 1;
    }
  }
}
