package dev.tessera.kernels.opencl;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Device buffers that are not the Java arrays themselves (shared host memory off, as on every GPU),
 * emulated on pocl. Two bugs of device data overwritten by a stale host copy of an arena: when the
 * arena grew, Aparapi applied the put() of the new array one launch late; and when the garbage
 * collector moved an arena array, Aparapi re-created its buffer from the host copy. Fixed in
 * OpenClBackend (bind before put; arenas large enough that G1 never moves them). The second test
 * fails every time without the fix.
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
  void whenTheCollectorRunsBetweenLaunches_thenDeviceDataSurvives() {
    TestBackends.openCl();
    OpenCLDevice device = OpenClDevices.first(Device.TYPE.CPU).orElseThrow();
    device.setSharedMemory(false);
    try (OpenClBackend cl = new OpenClBackend(device, DeviceKind.CPU, 4096)) {
      Random r = new Random(5);
      for (int round = 0; round < 4; round++) {
        float[] a = Numerics.uniform(r, 1000, -1, 1);
        try (Tensor t = cl.fromArray(a, a.length)) {
          cl.scale(t, 2f); // device-only data: the host copy of the arena is now stale
          System.gc(); // a full collection moves every array that is not humongous
          cl.scale(t, 0.5f);
          org.junit.jupiter.api.Assertions.assertArrayEquals(a, cl.read(t), "round " + round);
        }
      }
    } finally {
      device.setSharedMemory(true);
    }
  }
}
