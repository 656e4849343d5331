package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import com.aparapi.device.Device;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.kernels.opencl.OpenClDevices;
import org.junit.jupiter.api.Assumptions;

/**
 * Opens the backends the tests compare. The OpenCL device is the CPU (pocl) unless
 * {@value #ENV}=gpu (as on a GPU machine, see docs/gpu.md). OpenCL must exist in CI: there its
 * absence fails the test; elsewhere the test is skipped with the reason shown.
 */
public final class TestBackends {
  public static final String ENV = "TESSERA_TEST_DEVICE";
  private static OpenClBackend openCl;

  private TestBackends() {
  }

  /** The OpenCL device kind under test: CPU, or GPU when {@value #ENV}=gpu or emulated-gpu. */
  public static DeviceKind kind() {
    return "gpu".equalsIgnoreCase(System.getenv(ENV)) || emulatedGpu() ? DeviceKind.GPU : DeviceKind.CPU;
  }

  /**
   * {@value #ENV}=emulated-gpu: the CPU OpenCL device driven as a GPU (device buffers, one work unit
   * per work-item, attention as matmuls), to chase GPU-only bugs without a GPU.
   */
  static boolean emulatedGpu() {
    return "emulated-gpu".equalsIgnoreCase(System.getenv(ENV));
  }

  /** The OpenCL device under test (after {@link #openCl()} has checked it exists). */
  public static com.aparapi.device.OpenCLDevice device() {
    openCl();
    return OpenClDevices.first(kind() == DeviceKind.GPU && !emulatedGpu() ? Device.TYPE.GPU : Device.TYPE.CPU)
        .orElseThrow();
  }

  /** One shared OpenCL backend for the whole test JVM (compiling the kernel takes seconds). */
  public static synchronized OpenClBackend openCl() {
    if (openCl == null) {
      DeviceKind kind = kind();
      var device = OpenClDevices.first(kind == DeviceKind.GPU && !emulatedGpu() ? Device.TYPE.GPU : Device.TYPE.CPU);
      if (emulatedGpu()) {
        device.ifPresent(d -> d.setSharedMemory(false));
      }
      if (device.isEmpty()) {
        String why = "no OpenCL " + kind.id() + " device: " + OpenClDevices.inventory();
        if ("true".equals(System.getenv("CI"))) {
          fail(why + " (CI must run the kernel tests on pocl; .ci/run installs it)");
        }
        Assumptions.abort(why);
      }
      openCl = new OpenClBackend(device.get(), kind, 1 << 20);
    }
    return openCl;
  }
}
