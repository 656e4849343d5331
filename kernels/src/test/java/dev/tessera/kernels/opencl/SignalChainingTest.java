package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.aparapi.device.Device;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A JVM that opens OpenCL keeps its own signal handlers when libjsig.so is preloaded, and (the
 * control, where the OpenCL platform is pocl) loses them without it. The JVM's -Xcheck:jni checks
 * its handlers periodically and prints "SIGSEGV handler modified!" when one was replaced.
 */
class SignalChainingTest {
  /** The child JVM: opens OpenCL, waits for the periodic checks, says what it saw. */
  public static final class Probe {
    public static void main(String[] args) throws InterruptedException {
      int devices = OpenClDevices.all(Device.TYPE.CPU).size() + OpenClDevices.all(Device.TYPE.GPU).size();
      Thread.sleep(1500);
      System.out.println("PROBE devices=" + devices + " chained=" + SignalChaining.active() + " pocl="
          + OpenClDevices.inventory().contains("Portable Computing Language"));
    }
  }

  private static String run(boolean chained) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xcheck:jni"));
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream().filter(a -> a.startsWith("--add-"))
        .forEach(cmd::add);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Probe.class.getName()));
    Path log = Files.createTempFile("signal-chaining-probe", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().remove("LD_PRELOAD");
    if (chained) {
      pb.environment().put("LD_PRELOAD", SignalChaining.preload(null));
    }
    Process p = pb.start();
    try {
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the probe JVM did not exit within 60 s: " + Files.readString(log));
    } finally {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    Files.deleteIfExists(log);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("PROBE "), out);
    return out;
  }

  @Test
  @Timeout(120)
  void openClWithLibjsigPreloadedLeavesTheJvmItsSignalHandlers() throws Exception {
    Assumptions.assumeTrue(SignalChaining.library().isPresent(), "this JVM has no lib/libjsig.so");
    String chained = run(true);
    Assumptions.assumeFalse(chained.contains("PROBE devices=0"), "no OpenCL device here: " + OpenClDevices.inventory());
    assertTrue(chained.contains("chained=true"), chained);
    assertFalse(chained.contains("handler modified"), chained);
    if (chained.contains("pocl=true")) { // the control: pocl's LLVM does replace them
      String plain = run(false);
      assertTrue(plain.contains("chained=false"), plain);
      assertTrue(plain.contains("SIGSEGV handler modified"), plain);
    }
  }
}
