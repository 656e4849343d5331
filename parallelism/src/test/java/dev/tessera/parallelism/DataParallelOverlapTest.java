package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.comm.CommException;
import dev.tessera.comm.Group;
import dev.tessera.comm.LocalFabric;
import dev.tessera.comm.Traffic;
import dev.tessera.comm.Transport;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Layout dp2 (ranks as threads): a block's gradients handed over with {@code gradientsReady} are on
 * the wire before {@code allReduceGrads} is called, and the end result is every gradient summed
 * exactly, the ones handed over and the rest alike; a peer that never sums fails the wait, naming it.
 */
class DataParallelOverlapTest {
  private static final int GROUP = 7;

  /** Three parameters with gradients that depend on the rank: "a" and "b" a block's, "c" the rest. */
  private static Params params(ReferenceBackend be, int rank) {
    Params p = new Params(be, 1);
    int k = 0;
    for (String name : new String[] {"h.0.a", "h.0.b", "c"}) {
      Param q = p.normal(name, 0.02f, 3, 5);
      float[] g = new float[15];
      for (int i = 0; i < g.length; i++) {
        g[i] = (rank + 1) * 0.25f * (i + 1) + k;
      }
      be.write(q.grad(), g);
      k += 100;
    }
    return p;
  }

  private static long dpBytesSent(Transport t) {
    Traffic.Counts c = t.traffic().snapshot().get(GROUP);
    return c == null ? 0 : c.bytesSent();
  }

  /** Runs body(rank, its transport) for ranks 0 and 1 of one fabric at once; their results, in rank order. */
  private static <T> List<T> onTwoRanks(RankBody<T> body) throws Exception {
    LocalFabric fabric = new LocalFabric(2);
    ExecutorService ranks = Executors.newFixedThreadPool(2);
    try {
      List<Future<T>> results = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        int rank = r;
        results.add(ranks.submit(() -> body.run(rank, fabric.transport(rank))));
      }
      return List.of(results.get(0).get(30, TimeUnit.SECONDS), results.get(1).get(30, TimeUnit.SECONDS));
    } finally {
      ranks.shutdownNow();
    }
  }

  private interface RankBody<T> {
    T run(int rank, Transport t) throws Exception;
  }

  @Test
  @Timeout(60)
  void aBlocksGradientsAreSummedWhileTheBackwardGoesOnAndEveryGradientEndsSummed() throws Exception {
    List<float[][]> got = onTwoRanks((rank, t) -> {
      DataParallel dp = new DataParallel(new Group(t, GROUP, new int[] {0, 1}, Duration.ofSeconds(20)));
      try (ReferenceBackend be = new ReferenceBackend(); Params p = params(be, rank)) {
        dp.gradientsReady(List.of(p.get("h.0.a"), p.get("h.0.b")), 3);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (dpBytesSent(t) == 0) { // the communication thread sends: this thread goes on
          assertTrue(System.nanoTime() < deadline, "rank " + rank + ": nothing sent before allReduceGrads");
          Thread.sleep(1);
        }
        dp.allReduceGrads(p, 3);
        return new float[][] {be.read(p.get("h.0.a").grad()), be.read(p.get("h.0.b").grad()),
            be.read(p.get("c").grad())};
      }
    });
    float[][] zero = got.get(0);
    float[][] one = got.get(1);
    for (int k = 0; k < 3; k++) {
      float[] want = new float[15];
      for (int i = 0; i < 15; i++) {
        want[i] = (0.25f * (i + 1) + 100 * k) + (0.5f * (i + 1) + 100 * k);
      }
      assertArrayEquals(want, zero[k], "parameter " + k + " on rank 0");
      assertArrayEquals(zero[k], one[k], "parameter " + k + ": the same bits on both ranks");
    }
  }

  @Test
  @Timeout(60)
  void aPeerThatNeverSumsFailsTheWaitWithinTheTimeout() {
    LocalFabric fabric = new LocalFabric(2);
    DataParallel dp = new DataParallel(new Group(fabric.transport(0), GROUP, new int[] {0, 1}, Duration.ofSeconds(1)));
    try (ReferenceBackend be = new ReferenceBackend(); Params p = params(be, 0)) {
      dp.gradientsReady(List.of(p.get("h.0.a")), 5);
      long t0 = System.nanoTime();
      CommException e = org.junit.jupiter.api.Assertions.assertThrows(CommException.class,
          () -> dp.allReduceGrads(p, 5));
      assertTrue((System.nanoTime() - t0) / 1e9 < 10, "failed within the group's timeouts");
      assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
      assertEquals(0, fabric.transport(1).traffic().snapshot().getOrDefault(GROUP,
          new Traffic.Counts(0, 0, 0, 0, 0)).bytesSent());
    }
  }

  /** A step that failed after handing over a block leaves sums unfinished: the next step refuses, saying why. */
  @Test
  @Timeout(60)
  void aStepLeftUnfinishedStopsTheNextOneWithTheReason() {
    LocalFabric fabric = new LocalFabric(2);
    DataParallel dp = new DataParallel(new Group(fabric.transport(0), GROUP, new int[] {0, 1}, Duration.ofSeconds(20)));
    try (ReferenceBackend be = new ReferenceBackend(); Params p = params(be, 0)) {
      dp.gradientsReady(List.of(p.get("h.0.a")), 5); // then step 5 "fails": no allReduceGrads
      CommException e = org.junit.jupiter.api.Assertions.assertThrows(CommException.class,
          () -> dp.gradientsReady(List.of(p.get("h.0.a")), 6));
      assertTrue(e.getMessage().contains("step 5 were left unfinished"), e.getMessage());
      CommException again = org.junit.jupiter.api.Assertions.assertThrows(CommException.class,
          () -> dp.allReduceGrads(p, 6));
      assertTrue(again.getMessage().contains("cannot go on at step 6"), again.getMessage());
    }
  }

  /**
   * Layout dp2 with a bucket of 30 gradients: the first 15 handed over wait for the next 15, then the
   * two go as one sum (half the messages of a sum each), and every gradient still ends summed exactly.
   */
  @Test
  @Timeout(60)
  void withABucketSizeHandOversWaitUntilTheyFillOneAndGoAsOneSum() throws Exception {
    List<Object[]> got = onTwoRanks((rank, t) -> {
      DataParallel dp = new DataParallel(new Group(t, GROUP, new int[] {0, 1}, Duration.ofSeconds(20)), null, 0,
          DataParallel.Compress.GRADS, true, 30);
      try (ReferenceBackend be = new ReferenceBackend(); Params p = params(be, rank)) {
        dp.gradientsReady(List.of(p.get("h.0.a")), 3);
        Thread.sleep(300);
        long early = dpBytesSent(t);
        dp.gradientsReady(List.of(p.get("h.0.b")), 3);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (dpBytesSent(t) == 0) {
          assertTrue(System.nanoTime() < deadline, "rank " + rank + ": the full bucket was not sent");
          Thread.sleep(1);
        }
        long bucketMessages = t.traffic().snapshot().get(GROUP).messagesSent();
        dp.allReduceGrads(p, 3);
        return new Object[] {early, bucketMessages, new float[][] {be.read(p.get("h.0.a").grad()),
            be.read(p.get("h.0.b").grad()), be.read(p.get("c").grad())}};
      }
    });
    for (int r = 0; r < 2; r++) {
      assertEquals(0L, got.get(r)[0], "rank " + r + ": half a bucket waits, nothing is sent");
      assertEquals(1L, got.get(r)[1], "rank " + r + ": both parameters in one sum (30 floats: one message)");
      float[][] sums = (float[][]) got.get(r)[2];
      for (int k = 0; k < 3; k++) {
        float[] want = new float[15];
        for (int i = 0; i < 15; i++) {
          want[i] = (0.25f * (i + 1) + 100 * k) + (0.5f * (i + 1) + 100 * k);
        }
        assertArrayEquals(want, sums[k], "rank " + r + ", parameter " + k);
      }
    }
  }

  /** Layout dp2 through bf16, two steps (the second uses the first's error feedback), with or without the overlap. */
  private static List<float[][]> bf16Sums(boolean overlap) throws Exception {
    return onTwoRanks((rank, t) -> {
      DataParallel dp = new DataParallel(new Group(t, GROUP, new int[] {0, 1}, Duration.ofSeconds(20)),
          dev.tessera.comm.Codecs.BF16, 0, DataParallel.Compress.GRADS, overlap);
      float[][] out = new float[6][];
      try (ReferenceBackend be = new ReferenceBackend()) {
        for (int step = 0; step < 2; step++) {
          try (Params p = params(be, rank)) {
            dp.gradientsReady(List.of(p.get("h.0.a"), p.get("h.0.b")), step);
            dp.allReduceGrads(p, step);
            for (int k = 0; k < 3; k++) {
              out[3 * step + k] = be.read(p.get(new String[] {"h.0.a", "h.0.b", "c"}[k]).grad());
            }
          }
        }
      }
      return out;
    });
  }

  /**
   * bf16 rounds each element on its own, so summing block by block during the backward (error
   * feedback per bucket) gives the bits of the flat sum after it (error feedback per position).
   */
  @Test
  @Timeout(60)
  void aCompressedSumOverlappedGivesTheBitsOfTheFlatOne() throws Exception {
    List<float[][]> overlapped = bf16Sums(true);
    List<float[][]> flat = bf16Sums(false);
    for (int r = 0; r < 2; r++) {
      for (int k = 0; k < 6; k++) {
        assertArrayEquals(flat.get(r)[k], overlapped.get(r)[k], "rank " + r + ", step " + k / 3 + ", parameter " + k % 3);
      }
    }
    float exact = (0.25f * 3 + 0) + (0.5f * 3 + 0); // h.0.a's third element, 2.25: bf16 rounds 0.75 + 1.5 exactly
    assertEquals(exact, overlapped.get(0)[0][2]);
    boolean rounded = false;
    for (int i = 0; i < 15; i++) {
      rounded |= overlapped.get(0)[5][i] != (0.25f * (i + 1) + 200) + (0.5f * (i + 1) + 200);
    }
    assertTrue(rounded, "parameter c (values near 200) went through bf16, not fp32");
  }
}
