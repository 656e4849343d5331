package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.DeviceUnavailableException;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import java.util.Random;
import org.junit.jupiter.api.Test;

class OpenClBackendTest {

  @Test
  void whenOpsChain_thenNothingCrossesToTheHostUntilRead() {
    OpenClBackend cl = TestBackends.openCl();
    Random rnd = new Random(1);
    Tensor x = cl.fromArray(Numerics.uniform(rnd, 64 * 32, -1, 1), 64, 32);
    Tensor w = cl.fromArray(Numerics.uniform(rnd, 32 * 48, -1, 1), 32, 48);
    Tensor y = cl.zeros(64, 48);
    Tensor z = cl.zeros(64, 48);
    long toDevice = cl.bytesToDevice();
    long toHost = cl.bytesToHost();
    long launches = cl.launches();
    for (int i = 0; i < 5; i++) {
      cl.matmul(y, x, w, false, false);
      cl.gelu(z, y);
      cl.axpy(z, 0.5f, y);
    }
    assertEquals(toDevice, cl.bytesToDevice(), "host-to-device bytes during device-only ops");
    assertEquals(toHost, cl.bytesToHost(), "device-to-host bytes during device-only ops");
    assertTrue(cl.launches() >= launches + 15, "each op is a kernel launch");
    float[] host = cl.read(z);
    assertTrue(cl.bytesToHost() > toHost, "read() moves data to the host");
    assertTrue(Math.abs(host[0]) > 0, "result was computed");
    for (Tensor t : new Tensor[] {x, w, y, z}) {
      t.close();
    }
  }

  @Test
  void whenArenaFills_thenItGrowsAndKeepsEveryTensor() {
    try (OpenClBackend small = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 4096)) {
      Random rnd = new Random(2);
      float[] a = Numerics.uniform(rnd, 3000, -1, 1);
      // On pocl the arenas start at least as large as an array the collector never moves.
      int big = Math.max(20000, DeviceMemory.unmovableElements() + 20000);
      float[] b = Numerics.uniform(rnd, big, -1, 1);
      Tensor ta = small.fromArray(a, 3000);
      Tensor tb = small.fromArray(b, big); // does not fit: the arena grows
      int[] ids = new int[big + 30000];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = i * 7;
      }
      Tensor ti = small.fromInts(ids, ids.length);
      assertArrayEquals(a, small.read(ta));
      assertArrayEquals(b, small.read(tb));
      assertArrayEquals(ids, small.readInts(ti));
      ta.close();
      Tensor tc = small.fromArray(a, 3000); // reuses the freed block
      assertArrayEquals(a, small.read(tc));
    }
  }

  @Test
  void whenTransferIsLargerThanTheStagingBuffer_thenItGoesInChunks() {
    OpenClBackend cl = TestBackends.openCl();
    float[] big = Numerics.uniform(new Random(3), DeviceMemory.STAGE * 2 + 123, -1, 1);
    try (Tensor t = cl.fromArray(big, big.length)) {
      assertArrayEquals(big, cl.read(t));
    }
  }

  @Test
  void whenAparapiFallsBack_thenTheLaunchFailsLoudly() {
    try (OpenClBackend cl = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 4096)) {
      // A work-group far beyond the device's limit cannot launch; Aparapi would quietly run the
      // kernel in Java instead.
      DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
          () -> cl.launchNop(1 << 16, 1 << 15));
      assertTrue(e.getMessage().contains("OpenCL device"), e.getMessage());
      assertThrows(IllegalStateException.class, () -> cl.fill(cl.zeros(4), 1f), "a failed backend stays failed");
    }
  }

  @Test
  void whenAnotherBackendFails_thenThisOneStillWorks() {
    // Aparapi keeps device preferences per kernel class; a failure in one backend must not spill over.
    OpenClBackend shared = TestBackends.openCl();
    try (OpenClBackend other = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 4096)) {
      assertThrows(DeviceUnavailableException.class, () -> other.launchNop(1 << 16, 1 << 15));
    }
    try (Tensor t = shared.zeros(8)) {
      shared.fill(t, 3f);
      assertArrayEquals(new float[] {3, 3, 3, 3, 3, 3, 3, 3}, shared.read(t));
    }
  }

  @Test
  void aFailedLaunchOnNvidiaUnderMpsSaysMpsIsRunning(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
      throws java.io.IOException {
    java.nio.file.Path none = tmp.resolve("no-mps");
    assertEquals("", LaunchFailures.mpsNote("NVIDIA CUDA", null, none), "no daemon, no note");
    java.nio.file.Path pipes = java.nio.file.Files.createDirectories(tmp.resolve("mps"));
    java.nio.file.Files.createFile(pipes.resolve("control"));
    String viaEnv = LaunchFailures.mpsNote("NVIDIA CUDA", pipes.toString(), none);
    assertTrue(viaEnv.startsWith("NVIDIA's MPS is running (" + pipes.resolve("control") + ")"), viaEnv);
    assertTrue(viaEnv.contains("or run without CUDA_MPS_PIPE_DIRECTORY"), viaEnv);
    String atDefault = LaunchFailures.mpsNote("NVIDIA CUDA", "", pipes);
    assertTrue(atDefault.contains("echo quit | nvidia-cuda-mps-control") && !atDefault.contains("without"), atDefault);
    assertEquals("", LaunchFailures.mpsNote("Portable Computing Language", pipes.toString(), none),
        "MPS does not touch pocl");
  }
}
