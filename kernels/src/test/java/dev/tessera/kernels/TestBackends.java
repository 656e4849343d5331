package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import com.aparapi.device.Device;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.kernels.opencl.OpenClDevices;
import org.junit.jupiter.api.Assumptions;

/**
 * Opens the backends the tests compare. OpenCL on the CPU (pocl) must exist in CI: there its
 * absence fails the test; elsewhere the test is skipped with the reason shown.
 */
public final class TestBackends {
  private static OpenClBackend openCl;

  private TestBackends() {
  }

  /** One shared OpenCL CPU backend for the whole test JVM (compiling the kernel takes seconds). */
  public static synchronized OpenClBackend openClCpu() {
    if (openCl == null) {
      var device = OpenClDevices.first(Device.TYPE.CPU);
      if (device.isEmpty()) {
        String why = "no OpenCL CPU device: " + OpenClDevices.inventory();
        if ("true".equals(System.getenv("CI"))) {
          fail(why + " (CI must run the kernel tests on pocl; .ci/run installs it)");
        }
        Assumptions.abort(why);
      }
      openCl = new OpenClBackend(device.get(), DeviceKind.CPU, 1 << 20);
    }
    return openCl;
  }
}
