package dev.tessera.kernels.opencl;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import com.aparapi.internal.opencl.OpenCLPlatform;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Finds OpenCL devices through Aparapi, and says why there are none when there are none. */
public final class OpenClDevices {
  private OpenClDevices() {
  }

  /** The first OpenCL device of the type, if any. */
  public static Optional<OpenCLDevice> first(Device.TYPE type) {
    List<OpenCLDevice> found = all(type);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /** Every OpenCL device of the type, in the platforms' order (none when OpenCL cannot load). */
  public static List<OpenCLDevice> all(Device.TYPE type) {
    try {
      List<OpenCLDevice> found = OpenCLDevice.listDevices(type);
      return found == null ? List.of() : found;
    } catch (LinkageError | RuntimeException e) {
      // No OpenCL library, or Aparapi's native part could not load: there is no OpenCL here.
      return List.of();
    }
  }

  /** One line per OpenCL platform and device seen, for error messages; says so when there are none. */
  public static String inventory() {
    List<String> lines = new ArrayList<>();
    try {
      for (OpenCLPlatform p : OpenCLPlatform.getUncachedOpenCLPlatforms()) {
        for (OpenCLDevice d : p.getOpenCLDevices()) {
          lines.add(p.getName().trim() + ": " + d.getType() + " " + d.getName().trim());
        }
      }
    } catch (LinkageError | RuntimeException e) {
      return "OpenCL could not be loaded (" + e + "); on Debian install pocl-opencl-icd and ocl-icd-libopencl1";
    }
    return lines.isEmpty()
        ? "no OpenCL platform found (is an ICD installed under /etc/OpenCL/vendors? on Debian: pocl-opencl-icd)"
        : String.join("; ", lines);
  }
}
