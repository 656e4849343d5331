package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The GPU kernel's matmul tiles against the reference: the default kernel (small tile only) and the
 * one with both tiles, each tile forced in turn: ragged edges, transposes, batches, alpha and beta. (On a small device or
 * for small products the choice by shape always takes the small tile, so the parity tests alone
 * would never run the large one.)
 */
class GpuTilesTest {
  private static final int[][] SHAPES = {{130, 67, 45}, {1, 200, 33}, {64, 64, 64}, {257, 129, 300}, {3, 5, 700}};

  @Test
  void eachTileMatchesTheReference() {
    System.setProperty(OpenClBackend.TILES_PROPERTY, "both");
    try (OpenClBackend cl = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 1 << 16, true)) {
      assertTrue(cl.largeTile());
      for (int tile : new int[] {GpuMatmulKernelBase.GPU_TILE, GpuMatmulKernelBase.GPU_TILE_SMALL, 0}) {
        cl.forcedTile = tile;
        checkAll(cl, "tile " + (tile == 0 ? "by shape" : tile));
      }
    } finally {
      System.clearProperty(OpenClBackend.TILES_PROPERTY);
    }
  }

  @Test
  void theDefaultKernelHasOnlyTheSmallTileAndRefusesTheLargeOne() {
    try (OpenClBackend cl = new OpenClBackend(TestBackends.device(), TestBackends.kind(), 1 << 16, true)) {
      assertTrue(!cl.largeTile());
      checkAll(cl, "small-tile kernel");
      cl.forcedTile = GpuMatmulKernelBase.GPU_TILE;
      try (Tensor a = cl.zeros(4, 4); Tensor c = cl.zeros(4, 4)) {
        assertThrows(IllegalStateException.class, () -> cl.matmul(c, a, a, false, false));
      }
    }
  }

  @Test
  void anUnknownTilesSettingIsRefusedByName() {
    System.setProperty(OpenClBackend.TILES_PROPERTY, "huge");
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new OpenClBackend(TestBackends.device(), TestBackends.kind(), 1 << 16, true));
      assertTrue(e.getMessage().contains(OpenClBackend.TILES_PROPERTY), e.getMessage());
    } finally {
      System.clearProperty(OpenClBackend.TILES_PROPERTY);
    }
  }

  private static void checkAll(OpenClBackend cl, String what) {
    Backend ref = new ReferenceBackend();
    Random rnd = new Random(5);
    for (int[] s : SHAPES) {
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0;
        boolean tb = (t & 2) != 0;
        int batch = t == 3 ? 3 : 1;
        int m = s[0];
        int n = s[1];
        int k = s[2];
        float[] a = Numerics.uniform(rnd, batch * m * k, -1, 1);
        float[] b = Numerics.uniform(rnd, batch * k * n, -1, 1);
        float[] c = Numerics.uniform(rnd, batch * m * n, -1, 1);
        int[] aDims = ta ? new int[] {batch, k, m} : new int[] {batch, m, k};
        int[] bDims = tb ? new int[] {batch, n, k} : new int[] {batch, k, n};
        float[] want = run(ref, a, aDims, b, bDims, c, new int[] {batch, m, n}, ta, tb);
        float[] got = run(cl, a, aDims, b, bDims, c, new int[] {batch, m, n}, ta, tb);
        double err = Numerics.relativeError(got, want);
        assertTrue(err < 1e-5, what + ": " + batch + "x" + m + "x" + n + "x" + k + " transA=" + ta + " transB=" + tb
            + " differs by " + err);
      }
    }
  }

  private static float[] run(Backend be, float[] a, int[] aDims, float[] b, int[] bDims, float[] c, int[] cDims,
      boolean ta, boolean tb) {
    try (Tensor ta3 = be.fromArray(a, aDims); Tensor tb3 = be.fromArray(b, bDims); Tensor tc = be.fromArray(c, cDims)) {
      be.matmul(tc, ta3, tb3, ta, tb, 2f, 0.5f);
      return be.read(tc);
    }
  }
}
