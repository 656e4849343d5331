package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.check.OpCase;
import dev.tessera.kernels.check.OpCases;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Device buffers that are not the Java arrays themselves (shared host memory off, as on every GPU),
 * emulated on pocl.
 *
 * <p>The first test checks arena growth with device buffers. A standalone program with the same
 * steps, in a fresh JVM, lost the first tensor written after a growth every time: Aparapi applied
 * the put() of the new arena array one launch late and overwrote the device copy with a stale host
 * one (fixed in OpenClBackend.grow). Inside the test JVM, where another backend already uses the
 * device with shared memory, the old code did not fail, so this test guards the behaviour but has
 * not been seen to catch that bug.
 *
 * <p>The second, disabled, is a bug still open (issue 4): in a standalone run of the same steps
 * through OpCase, with device buffers and the default G1 collector, about two runs in five computed
 * one round wrong (relative error ~1); with -XX:+UseSerialGC or a 2 GiB young generation none of 3
 * runs did, and with -Xlog:gc the failing round was the one during which a young collection ran.
 * Suspect: Aparapi re-creating the device buffer of an array the collector moved and filling it
 * from the stale host copy. The same family of failure appeared on the H100 (matmul
 * finite-difference checks after the golden test).
 */
class ExplicitBuffersTest {

  @Test
  void whenTheArenaGrowsWithDeviceBuffers_thenEveryTensorKeepsItsValues() {
    TestBackends.openCl();
    OpenCLDevice device = OpenClDevices.first(Device.TYPE.CPU).orElseThrow();
    device.setSharedMemory(false);
    try (OpenClBackend cl = new OpenClBackend(device, DeviceKind.CPU, 4096)) {
      Random r = new Random(1);
      List<Tensor> kept = new ArrayList<>();
      for (int i = 0; i < 8; i++) { // some rounds grow the arena; what is written next must survive it
        kept.add(cl.fromArray(Numerics.uniform(r, 3000 * (i + 1), -1, 1), 3000 * (i + 1)));
        float[] a = Numerics.uniform(r, 70 * 33, -1, 1);
        float[] b = Numerics.uniform(r, 33 * 130, -1, 1);
        try (Tensor ta = cl.fromArray(a, 70, 33); Tensor tb = cl.fromArray(b, 33, 130);
            Tensor tc = cl.zeros(70, 130)) {
          cl.matmul(tc, ta, tb, false, false);
          org.junit.jupiter.api.Assertions.assertArrayEquals(a, cl.read(ta), "first tensor written in round " + i);
          org.junit.jupiter.api.Assertions.assertArrayEquals(b, cl.read(tb), "second tensor written in round " + i);
        }
      }
    } finally {
      device.setSharedMemory(true);
    }
  }

  @Test
  @Disabled("known bug, open in issue 4: wrong results now and then when device buffers are not shared host memory")
  void repeatedMatmulsWithDeviceBuffersMatchTheReference() {
    TestBackends.openCl();
    OpenCLDevice device = OpenClDevices.first(Device.TYPE.CPU).orElseThrow();
    device.setSharedMemory(false); // behave as on a GPU
    try (OpenClBackend cl = new OpenClBackend(device, DeviceKind.CPU, 4096)) {
      Backend ref = new ReferenceBackend();
      Random r = new Random(1);
      List<Tensor> kept = new ArrayList<>();
      OpCase c = OpCases.matmul("matmul", new int[] {70, 33}, new int[] {33, 130}, new int[] {70, 130}, false, false);
      for (int round = 0; round < 8; round++) {
        kept.add(cl.fromArray(Numerics.uniform(r, 3000 * (round + 1), -1, 1), 3000 * (round + 1)));
        Map<String, float[]> expected = c.runAll(ref, 7);
        Map<String, float[]> actual = c.runAll(cl, 7);
        for (String k : expected.keySet()) {
          double err = Numerics.relativeError(actual.get(k), expected.get(k));
          int n = round;
          assertTrue(err < 1e-5, () -> "round " + n + ": " + k + " differs by " + err);
        }
      }
    } finally {
      device.setSharedMemory(true);
    }
  }
}
