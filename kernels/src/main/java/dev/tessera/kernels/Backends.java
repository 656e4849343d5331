package dev.tessera.kernels;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.kernels.opencl.OpenClDevices;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.kernels.threads.ThreadPoolBackend;
import java.util.List;
import java.util.Optional;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Chooses and opens a backend. The device comes from the command-line option if given, else the
 * {@value #ENV} environment variable, else {@code auto}: GPU OpenCL, then CPU OpenCL, then the Java
 * thread pool. A device asked for by name that is not there is an error, never a fallback. The
 * chosen device is logged once, when the backend opens.
 */
public final class Backends {
  public static final String ENV = "TESSERA_DEVICE";
  /** Starting size of an OpenCL backend's float arena: 16 Mi elements (64 MiB); it grows on demand. */
  public static final int INITIAL_ARENA = 16 << 20;

  private static final Logger LOG = LogManager.getLogger(Backends.class);
  /** Whether this JVM checks JNI calls: then Aparapi hands its kernels copies of the arrays (docs/kernels.md). */
  static final boolean CHECKED_JNI = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
      .contains("-Xcheck:jni");

  private Backends() {
  }

  /** The device asked for: the option if not null or blank, else $TESSERA_DEVICE, else auto. */
  public static DeviceKind requested(String option) {
    if (option != null && !option.isBlank()) {
      return DeviceKind.parse(option);
    }
    String env = System.getenv(ENV);
    if (env != null && !env.isBlank()) {
      try {
        return DeviceKind.parse(env);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("environment variable " + ENV + ": " + e.getMessage(), e);
      }
    }
    return DeviceKind.AUTO;
  }

  public static Backend create(DeviceKind requested) {
    return create(requested, 0);
  }

  /**
   * As {@link #create(DeviceKind)}, on OpenCL device number {@code index} (modulo how many of the
   * kind there are): worker r of a host with several GPUs takes GPU r mod their count.
   */
  public static Backend create(DeviceKind requested, int index) {
    return create(requested, index, true);
  }

  /**
   * As {@link #create(DeviceKind, int)}; with {@code wrap} false, device number {@code index} must
   * exist (a device named by the config's {@code devices} or by Spark's GPU address): a number past
   * the devices there are is an error, not another device.
   */
  public static Backend create(DeviceKind requested, int index, boolean wrap) {
    if ((requested == DeviceKind.GPU || requested == DeviceKind.CPU) && CHECKED_JNI) {
      throw new DeviceUnavailableException("device '" + requested.id() + "' was requested, but this JVM runs with "
          + "-Xcheck:jni, under which Aparapi's kernels compute into copies of the arrays and every result stays "
          + "zero (a run trains on nothing, at loss 0). Run without -Xcheck:jni, or choose --device java or "
          + "reference.");
    }
    Backend b = switch (requested) {
      case REFERENCE -> new ReferenceBackend();
      case JAVA -> new ThreadPoolBackend(Runtime.getRuntime().availableProcessors());
      case GPU -> openCl(Device.TYPE.GPU, DeviceKind.GPU, index, wrap)
          .orElseThrow(() -> missing("gpu", "OpenCL GPU"));
      case CPU -> openCl(Device.TYPE.CPU, DeviceKind.CPU, index, wrap)
          .orElseThrow(() -> missing("cpu", "OpenCL CPU device"));
      case AUTO -> (CHECKED_JNI ? Optional.<Backend>empty() : openCl(Device.TYPE.GPU, DeviceKind.GPU, index, wrap)
          .or(() -> openCl(Device.TYPE.CPU, DeviceKind.CPU, index, wrap)))
          .orElseGet(() -> {
            if (CHECKED_JNI) {
              LOG.warn("this JVM runs with -Xcheck:jni, under which OpenCL through Aparapi computes nothing (every "
                  + "result stays zero); --device auto uses the Java thread pool instead");
            } else {
              LOG.warn("no OpenCL device found ({}); using the Java thread pool", OpenClDevices.inventory());
            }
            return new ThreadPoolBackend(Runtime.getRuntime().availableProcessors());
          });
    };
    LOG.info("compute device: {} (requested: {})", b.describe(), requested.id());
    return b;
  }

  private static Optional<Backend> openCl(Device.TYPE type, DeviceKind kind, int index, boolean wrap) {
    List<OpenCLDevice> all = OpenClDevices.all(type);
    if (all.isEmpty()) {
      return Optional.empty();
    }
    if (!wrap && (index < 0 || index >= all.size())) {
      throw new DeviceUnavailableException("OpenCL " + kind.id() + " device " + index + " was asked for, but there "
          + (all.size() == 1 ? "is 1" : "are " + all.size()) + ", numbered from 0 (" + OpenClDevices.inventory() + ")");
    }
    int i = Math.floorMod(index, all.size());
    OpenClBackend b = new OpenClBackend(all.get(i), kind, INITIAL_ARENA);
    b.position(i, all.size());
    return Optional.of(b);
  }

  private static DeviceUnavailableException missing(String id, String what) {
    return new DeviceUnavailableException("device '" + id + "' was requested but there is no " + what + " here. "
        + "OpenCL sees: " + OpenClDevices.inventory() + ". Choose another with --device or " + ENV
        + " (auto, gpu, cpu, java, reference).");
  }
}
