package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.ChildJvm;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Host transfers straight into the arenas' OpenCL buffers through pinned memory ({@link PinnedCopies}),
 * as every GPU backend makes them, on pocl with shared memory off (device buffers, as on a GPU). The
 * values must be the ones the Aparapi staging path moves, at any offset and length, across the
 * two pinned buffers' chunks and after the arena grew (a new OpenCL buffer).
 */
class PinnedCopiesTest {

  private static <T> T withDeviceBuffers(Function<OpenClBackend, T> body) {
    TestBackends.openCl();
    OpenCLDevice device = OpenClDevices.first(Device.TYPE.CPU).orElseThrow();
    device.setSharedMemory(false);
    try (OpenClBackend cl = new OpenClBackend(device, DeviceKind.CPU, 4096)) {
      return body.apply(cl);
    } finally {
      device.setSharedMemory(true);
    }
  }

  @Test
  void withDeviceBuffers_thenTransfersGoThroughPinnedMemoryAndKeepEveryValue() {
    int chunk = PinnedCopies.CHUNK / 4;
    withDeviceBuffers(cl -> {
      assertTrue(cl.copies().startsWith("pinned OpenCL buffers"), "transfers went through " + cl.copies());
      Random r = new Random(3);
      // Lengths around the pinned chunk and across several of them, at offsets the allocator picks
      // after an odd-sized tensor.
      try (Tensor pad = cl.fromArray(new float[37], 37)) {
        for (int n : new int[] {1, 1000, chunk - 1, chunk, chunk + 1, 2 * chunk + 12345, 5 * chunk / 2}) {
          float[] a = Numerics.uniform(r, n, -1, 1);
          try (Tensor t = cl.fromArray(a, n)) {
            cl.scale(t, 2f); // on the device: the read must see the kernel's result, not the host copy
            float[] back = cl.read(t);
            for (int i = 0; i < n; i++) {
              assertEquals(2f * a[i], back[i], "element " + i + " of " + n);
            }
          }
        }
        int[] ids = new int[chunk + 77];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = r.nextInt(50_000);
        }
        try (Tensor t = cl.fromInts(ids, ids.length)) {
          assertArrayEquals(ids, cl.readInts(t), "int arena");
        }
      }
      return null;
    });
  }

  @Test
  void partsOfAnArray_thenOnlyThatPartMovesEitherWay() {
    int chunk = PinnedCopies.CHUNK / 4;
    withDeviceBuffers(cl -> {
      Random r = new Random(11);
      int n = chunk + 999; // two pinned chunks
      float[] flat = Numerics.uniform(r, n + 2 * 77, -1, 1);
      try (Tensor t = cl.zeros(n)) {
        cl.write(t, flat, 77);
        float[] into = new float[n + 10];
        java.util.Arrays.fill(into, -7f);
        cl.read(t, into, 5);
        for (int i = 0; i < into.length; i++) {
          float want = i < 5 || i >= 5 + n ? -7f : flat[77 + i - 5];
          assertEquals(want, into[i], "element " + i);
        }
      }
      return null;
    });
  }

  @Test
  void afterTheArenaGrows_thenTransfersReachTheNewBuffer() {
    withDeviceBuffers(cl -> {
      Random r = new Random(9);
      int n = DeviceMemory.MIN_DEVICE_FLOATS / 3;
      float[][] kept = new float[4][];
      Tensor[] ts = new Tensor[4];
      for (int i = 0; i < 4; i++) { // 4/3 of the first arena: it grows (a new OpenCL buffer) once
        kept[i] = Numerics.uniform(r, n, -1, 1);
        ts[i] = cl.fromArray(kept[i], n);
      }
      for (int i = 0; i < 4; i++) {
        assertArrayEquals(kept[i], cl.read(ts[i]), "tensor " + i + " after the growth");
        ts[i].close();
      }
      return null;
    });
  }

  @Test
  void theSamePathAsAparapisStagingArrays() {
    float[] a = Numerics.uniform(new Random(4), 3 * PinnedCopies.CHUNK / 8, -3, 3);
    float[] pinned = withDeviceBuffers(cl -> roundTrip(cl, a));
    String before = System.getProperty(PinnedCopies.PROPERTY);
    System.setProperty(PinnedCopies.PROPERTY, "aparapi");
    try {
      float[] staged = withDeviceBuffers(cl -> {
        assertEquals("Aparapi staging arrays", cl.copies());
        return roundTrip(cl, a);
      });
      assertArrayEquals(staged, pinned);
    } finally {
      if (before == null) {
        System.clearProperty(PinnedCopies.PROPERTY);
      } else {
        System.setProperty(PinnedCopies.PROPERTY, before);
      }
    }
  }

  private static float[] roundTrip(OpenClBackend cl, float[] a) {
    try (Tensor t = cl.fromArray(a, a.length); Tensor u = cl.zeros(a.length)) {
      cl.axpy(u, 0.5f, t);
      return cl.read(u);
    }
  }

  /** A child JVM started without native access: the warning says why and the staging path still works. */
  @Test
  void withoutNativeAccess_thenAWarningSaysHowToEnableIt() throws Exception {
    TestBackends.openCl();
    String out = ChildJvm.run(NoNativeAccess.class, List.of(), null);
    assertTrue(out.contains("host transfers go through Aparapi's staging arrays")
        && out.contains("--enable-native-access=ALL-UNNAMED"), out);
    assertTrue(out.contains("round trip ok"), out);
  }

  /** Opens a backend with device buffers and moves a tensor there and back. */
  public static final class NoNativeAccess {
    public static void main(String[] args) {
      float[] a = Numerics.uniform(new Random(2), 5000, -1, 1);
      float[] back = withDeviceBuffers(cl -> roundTrip(cl, a));
      for (int i = 0; i < a.length; i++) {
        if (back[i] != 0.5f * a[i]) {
          throw new AssertionError("element " + i);
        }
      }
      System.out.println("round trip ok");
    }
  }
}
