package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.aparapi.device.Device;
import dev.tessera.kernels.ChildJvm;
import java.io.IOException;
import java.util.List;
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
    String out = ChildJvm.run(Probe.class, List.of("-Xcheck:jni"), chained ? SignalChaining.preload(null) : null);
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
