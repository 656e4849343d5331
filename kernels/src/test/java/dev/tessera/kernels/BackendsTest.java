package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.aparapi.device.Device;
import dev.tessera.kernels.opencl.OpenClDevices;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class BackendsTest {

  @Test
  void theOptionWinsAndUnknownNamesAreListed() {
    assertEquals(DeviceKind.JAVA, Backends.requested("java"));
    assertEquals(DeviceKind.CPU, Backends.requested(" CPU "));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.requested("tpu"));
    assertTrue(e.getMessage().contains("auto, gpu, cpu, java, reference"), e.getMessage());
  }

  @Test
  void whenGpuIsRequestedButAbsent_thenItIsAnErrorNotAFallback() {
    Assumptions.assumeTrue(OpenClDevices.first(Device.TYPE.GPU).isEmpty(), "this machine has an OpenCL GPU");
    DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
        () -> Backends.create(DeviceKind.GPU));
    assertTrue(e.getMessage().contains("'gpu' was requested"), e.getMessage());
    assertTrue(e.getMessage().contains("OpenCL sees"), e.getMessage());
  }

  @Test
  void cpuRequestOpensOpenClOnTheCpu() {
    TestBackends.openCl(); // skips (or fails in CI) with the reason when there is no OpenCL CPU
    try (Backend b = Backends.create(DeviceKind.CPU)) {
      assertEquals(DeviceKind.CPU, b.kind());
      assertTrue(b.describe().startsWith("OpenCL CPU"), b.describe());
    }
  }

  /** Device number N asked for by name (the config's devices, Spark's address) must exist; the rank's number wraps. */
  @Test
  void aDeviceNumberPastTheDevicesIsAnErrorUnlessItWraps() {
    TestBackends.openCl();
    int n = OpenClDevices.all(Device.TYPE.CPU).size();
    DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
        () -> Backends.create(DeviceKind.CPU, n, false));
    assertTrue(e.getMessage().contains("OpenCL cpu device " + n + " was asked for, but there"), e.getMessage());
    try (Backend b = Backends.create(DeviceKind.CPU, n, true)) {
      assertEquals(DeviceKind.CPU, b.kind());
    }
  }

  /**
   * Aparapi's copy of its native library in /tmp is gone once OpenCL is up (a halted worker JVM never
   * runs the exit hooks that would remove it), while the loaded library keeps working.
   */
  @Test
  void theExtractedNativeLibraryIsRemovedOnceLoaded() throws Exception {
    TestBackends.openCl();
    java.nio.file.Path maps = java.nio.file.Path.of("/proc/self/maps");
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isReadable(maps), "no /proc/self/maps here");
    try (Backend b = Backends.create(DeviceKind.CPU)) {
      java.util.List<String> mapped = java.nio.file.Files.readAllLines(maps).stream()
          .filter(l -> l.contains("/Aparapi") && l.contains("libaparapi")).toList();
      assertTrue(!mapped.isEmpty(), "Aparapi's library is mapped from an extracted copy");
      for (String l : mapped) {
        assertTrue(l.endsWith("(deleted)"), "still on disk: " + l);
      }
      try (Tensor x = b.fromArray(new float[] {1, 2, 3}, 3)) {
        b.scale(x, 2f);
        assertEquals(6f, b.read(x)[2]);
      }
    }
  }

  @Test
  void autoPrefersOpenCl() {
    TestBackends.openCl();
    try (Backend b = Backends.create(DeviceKind.AUTO)) {
      assertTrue(b.kind().isOpenCl(), b.describe());
    }
  }
}
