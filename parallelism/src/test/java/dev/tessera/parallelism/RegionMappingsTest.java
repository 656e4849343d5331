package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.tessera.comm.Group;
import dev.tessera.comm.LocalFabric;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The region mappings of {@link TensorParallel} on tp2 (ranks as threads), each against what it
 * must equal: copy/reduce (enter/leave without sp), the sequence-parallel all-gather and
 * reduce-scatter (enter/leave with sp), scatter-to/gather-from along the features; and every one
 * the identity on a group of one.
 */
class RegionMappingsTest {
  private static final int B = 2;
  private static final int T = 4;
  private static final int C = 6;

  /** Rank r's input: element i is r * 1000 + i. */
  private static float[] input(int r, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = r * 1000 + i;
    }
    return x;
  }

  @Test
  void everyMappingDoesWhatItSaysOnTwoWorkers() throws Exception {
    LocalFabric fabric = new LocalFabric(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<float[][]>> futures = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        int rank = r;
        futures.add(pool.submit(() -> {
          Backend be = new ReferenceBackend();
          Group g = new Group(fabric.transport(rank), 1, new int[] {0, 1}, Duration.ofSeconds(30));
          TensorParallel tp = new TensorParallel(g);
          TensorParallel sp = new TensorParallel(g, true);
          sp.batch(B, T);
          float[][] out = new float[6][];
          try (Tensor x = be.fromArray(input(rank, B * T * C), B, T, C)) {
            out[0] = be.read(tp.leave(be, be.fromArray(input(rank, B * T * C), B, T, C))); // all-reduce
            Tensor half = sp.leave(be, be.fromArray(input(rank, B * T * C), B, T, C)); // reduce-scatter
            out[1] = be.read(half);
            out[2] = be.read(sp.enter(be, half)); // all-gather of the halves
            Tensor cols = tp.scatterToRegion(be, x);
            out[3] = be.read(cols);
            out[4] = be.read(tp.gatherFromRegion(be, cols));
            assertSame(x, tp.enter(be, x), "copy to the region is the identity forward");
            try (Tensor dx = be.zeros(B * T / 2, C); Tensor dIn = sp.enterGradient(be, dx, be.zeros(B, T, C))) {
              be.write(dIn, input(rank, B * T * C));
              sp.enterBackward(be, dIn, dx); // reduce-scatter back to this worker's tokens
              out[5] = be.read(dx);
            }
          }
          return out;
        }));
      }
      float[][] r0 = futures.get(0).get(60, TimeUnit.SECONDS);
      float[][] r1 = futures.get(1).get(60, TimeUnit.SECONDS);
      int n = B * T * C;
      float[] sum = new float[n];
      for (int i = 0; i < n; i++) {
        sum[i] = input(0, n)[i] + input(1, n)[i];
      }
      assertArrayEquals(sum, r0[0], "reduce from the region (rank 0)");
      assertArrayEquals(sum, r1[0], "reduce from the region (rank 1)");
      assertArrayEquals(java.util.Arrays.copyOfRange(sum, 0, n / 2), r0[1], "reduce-scatter: rank 0 the first tokens");
      assertArrayEquals(java.util.Arrays.copyOfRange(sum, n / 2, n), r1[1], "reduce-scatter: rank 1 the last tokens");
      assertArrayEquals(sum, r0[2], "all-gather of the token halves");
      assertArrayEquals(sum, r1[2], "all-gather of the token halves");
      for (int rank = 0; rank < 2; rank++) {
        float[][] got = rank == 0 ? r0 : r1;
        float[] x = input(rank, n);
        assertEquals(n / 2, got[3].length);
        for (int row = 0; row < B * T; row++) {
          for (int c = 0; c < C / 2; c++) {
            assertEquals(x[row * C + rank * C / 2 + c], got[3][row * C / 2 + c], "scatter to the region");
          }
        }
        float[] gathered = new float[n];
        for (int row = 0; row < B * T; row++) {
          for (int w = 0; w < 2; w++) {
            for (int c = 0; c < C / 2; c++) {
              gathered[row * C + w * C / 2 + c] = input(w, n)[row * C + w * C / 2 + c];
            }
          }
        }
        assertArrayEquals(gathered, got[4], "gather from the region puts each worker's columns in place");
        assertArrayEquals(java.util.Arrays.copyOfRange(sum, rank * n / 2, (rank + 1) * n / 2), got[5],
            "backward of the all-gather: this worker's tokens of the summed gradient");
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void onAGroupOfOneEveryMappingIsTheIdentity() {
    Backend be = new ReferenceBackend();
    TensorParallel tp = new TensorParallel(new Group(new LocalFabric(1).transport(0), 1, new int[] {0},
        Duration.ofSeconds(5)), true);
    tp.batch(B, T);
    try (Tensor x = be.fromArray(input(0, B * T * C), B, T, C)) {
      assertSame(x, tp.enter(be, x));
      assertSame(x, tp.leave(be, x));
      assertSame(x, tp.leaveBackward(be, x));
      assertSame(x, tp.scatterToRegion(be, x));
      assertSame(x, tp.gatherFromRegion(be, x));
      assertSame(x, tp.enterGradient(be, x, x));
      assertArrayEquals(new int[] {0, B * T}, tp.tokens(B, T));
    }
  }
}
