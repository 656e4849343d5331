package dev.tessera.coordinator.cli;

import dev.tessera.kernels.Backends;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.opencl.OpenClDevices;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code tessera devices}: what OpenCL sees, and what {@code --device auto} would pick. */
@Command(name = "devices", mixinStandardHelpOptions = true,
    description = "Lists the OpenCL platforms and devices and the device that --device auto picks.")
final class DevicesCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.out.println("OpenCL: " + OpenClDevices.inventory());
    try (var b = Backends.create(DeviceKind.AUTO)) {
      System.out.println("auto picks: " + b.describe());
    }
    return 0;
  }
}
