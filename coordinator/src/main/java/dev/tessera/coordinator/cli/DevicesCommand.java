package dev.tessera.coordinator.cli;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.Backends;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.opencl.OpenClDevices;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code tessera devices}: what OpenCL sees, and what {@code --device auto} would pick. */
@Command(name = "devices", mixinStandardHelpOptions = true,
    description = "Lists the OpenCL platforms and devices, numbered per kind as --devices counts them, and the "
        + "device that --device auto picks.")
final class DevicesCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.out.println("OpenCL: " + OpenClDevices.inventory());
    // The numbers --devices (and Spark's GPU addresses) count by, per kind.
    for (Device.TYPE type : new Device.TYPE[] {Device.TYPE.GPU, Device.TYPE.CPU}) {
      java.util.List<OpenCLDevice> all = OpenClDevices.all(type);
      for (int i = 0; i < all.size(); i++) {
        OpenCLDevice d = all.get(i);
        System.out.println("  " + type.name().toLowerCase(java.util.Locale.ROOT) + " " + i + ": " + d.getName().trim()
            + " (" + d.getOpenCLPlatform().getName().trim() + ", " + d.getGlobalMemSize() / (1 << 20) + " MiB)");
      }
    }
    try (var b = Backends.create(DeviceKind.AUTO)) {
      System.out.println("auto picks: " + b.describe());
    }
    return 0;
  }
}
