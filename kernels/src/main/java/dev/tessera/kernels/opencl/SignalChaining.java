package dev.tessera.kernels.opencl;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.logging.log4j.LogManager;

/**
 * The JVM's signal handlers and OpenCL drivers built on LLVM. The JVM catches SIGSEGV for its own
 * work (null checks in compiled code, safepoint polls, stack banging); loading pocl makes LLVM
 * install its crash handlers over the JVM's (SIGSEGV, SIGBUS, SIGILL, SIGUSR2, ... with
 * SA_RESETHAND), and pocl its SIGFPE handler. LLVM's handler puts the JVM's back on the first
 * signal, but a second thread faulting at the same moment (two codec threads at a safepoint, say)
 * meets the default action, and the JVM dies with signal 11 and no crash report: seen on the
 * H200 host, where pocl is installed beside NVIDIA's driver. The JVM's remedy is signal chaining:
 * with {@code libjsig.so} preloaded, a library's sigaction is recorded behind the JVM's handler
 * instead of replacing it. The launch scripts and {@code tessera launch}'s workers preload it;
 * a JVM that opens OpenCL without it is warned once.
 */
public final class SignalChaining {
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  private SignalChaining() {
  }

  /** This JVM's libjsig.so, if it ships one (Linux JDKs do, jlink images too). */
  public static Optional<Path> library() {
    Path p = Path.of(System.getProperty("java.home"), "lib", "libjsig.so");
    return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
  }

  /** An LD_PRELOAD value for a child JVM: {@code existing} with this JVM's libjsig.so first, if not there yet. */
  public static String preload(String existing) {
    Optional<Path> lib = library();
    if (lib.isEmpty() || (existing != null && existing.contains("libjsig.so"))) {
      return existing;
    }
    return existing == null || existing.isBlank() ? lib.get().toString() : lib.get() + ":" + existing;
  }

  /** Whether libjsig.so is loaded in this process (false where /proc is not there to say). */
  public static boolean active() {
    Path maps = Path.of("/proc/self/maps");
    if (!Files.isReadable(maps)) {
      return false;
    }
    try (var lines = Files.lines(maps)) {
      return lines.anyMatch(l -> l.endsWith("/libjsig.so"));
    } catch (java.io.IOException | java.io.UncheckedIOException e) {
      return false;
    }
  }

  /** Warns once if OpenCL is open on Linux without signal chaining. */
  static void warnIfMissing() {
    if (WARNED.get() || !Files.isReadable(Path.of("/proc/self/maps")) || active() || WARNED.getAndSet(true)) {
      return;
    }
    LogManager.getLogger(SignalChaining.class).warn("OpenCL is loaded without the JVM's signal chaining: drivers built "
        + "on LLVM (pocl) replace the JVM's signal handlers, and two threads faulting at once can then kill this JVM "
        + "with signal 11 and no crash report. Start it with LD_PRELOAD={} (./tessera, bench/run and tessera launch's "
        + "workers do).", library().map(Path::toString).orElse("$JAVA_HOME/lib/libjsig.so"));
  }
}
