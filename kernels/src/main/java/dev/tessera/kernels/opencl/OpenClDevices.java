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
      removeExtractedLibrary();
      SignalChaining.warnIfMissing();
      return found == null ? List.of() : found;
    } catch (LinkageError | RuntimeException e) {
      // No OpenCL library, or Aparapi's native part could not load: there is no OpenCL here.
      return List.of();
    }
  }

  private static final java.util.concurrent.atomic.AtomicBoolean REMOVED = new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * Aparapi copies its native library into a new /tmp/Aparapi&lt;digits&gt; directory in every JVM and
   * leaves the removal to the JVM's exit hooks, which a halted or killed JVM never runs (every worker
   * halts): 2.8 MB a JVM piled up. Once the library is loaded its file is no longer needed (Linux keeps
   * the mapping), so this JVM's copy, found in /proc/self/maps, is removed now. Elsewhere: nothing.
   */
  static void removeExtractedLibrary() {
    if (!REMOVED.compareAndSet(false, true)) {
      return;
    }
    java.nio.file.Path maps = java.nio.file.Path.of("/proc/self/maps");
    if (!java.nio.file.Files.isReadable(maps)) {
      return;
    }
    try (var lines = java.nio.file.Files.lines(maps)) {
      lines.map(l -> l.substring(l.lastIndexOf(' ') + 1))
          .filter(f -> f.matches(".*/Aparapi\\d+/libaparapi[^/]*\\.so")).distinct().map(java.nio.file.Path::of)
          .forEach(lib -> {
            try {
              java.nio.file.Files.deleteIfExists(lib);
              java.nio.file.Files.deleteIfExists(lib.getParent()); // only if empty
            } catch (java.io.IOException e) {
              org.apache.logging.log4j.LogManager.getLogger(OpenClDevices.class).debug("could not remove {}: {}", lib, e);
            }
          });
    } catch (java.io.IOException | java.io.UncheckedIOException e) {
      // /proc unreadable: leave the copy to the exit hooks
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
