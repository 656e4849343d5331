package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Under {@code -Xcheck:jni} Aparapi's kernels compute into copies of the arrays, so a run on OpenCL
 * would train on zeros without a word: a JVM started with it refuses an OpenCL device asked for by
 * name, and {@code auto} takes the Java thread pool, saying why. Needs no OpenCL: the refusal comes
 * first.
 */
class CheckedJniTest {
  /** Runs in the child JVM: asks for each device and prints what it got. */
  public static final class Probe {
    public static void main(String[] args) {
      for (DeviceKind k : new DeviceKind[] {DeviceKind.CPU, DeviceKind.GPU, DeviceKind.AUTO}) {
        try (Backend b = Backends.create(k)) {
          System.out.println("PROBE " + k.id() + " opened " + b.describe());
        } catch (DeviceUnavailableException e) {
          System.out.println("PROBE " + k.id() + " refused: " + e.getMessage());
        }
      }
    }
  }

  @Test
  void underCheckedJniOpenClIsRefusedAndAutoTakesTheJavaThreads() throws Exception {
    String out = ChildJvm.run(Probe.class, List.of("-Xcheck:jni"), null);
    for (String id : new String[] {"cpu", "gpu"}) {
      assertTrue(out.contains("PROBE " + id + " refused: device '" + id + "' was requested, but this JVM runs with "
          + "-Xcheck:jni"), out);
    }
    assertTrue(out.contains("PROBE auto opened Java thread pool"), out);
    assertTrue(out.contains("-Xcheck:jni, under which OpenCL through Aparapi computes nothing"), out);
  }
}
