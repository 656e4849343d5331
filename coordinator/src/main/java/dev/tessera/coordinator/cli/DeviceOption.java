package dev.tessera.coordinator.cli;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import picocli.CommandLine.Option;

/** The {@code --device} option, shared by every command that computes. */
final class DeviceOption {
  @Option(names = "--device", paramLabel = "DEVICE",
      description = "Where ops run: auto (GPU OpenCL, then CPU OpenCL, then Java threads), gpu, cpu (OpenCL on the "
          + "CPU, e.g. pocl), java (thread pool, no OpenCL) or reference (plain loops). A named device that is "
          + "missing is an error. Default: $" + Backends.ENV + ", else auto.")
  String device;

  Backend open() {
    return Backends.create(Backends.requested(device));
  }
}
