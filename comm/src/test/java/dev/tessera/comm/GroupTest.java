package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Collectives among ranks as threads over {@link LocalFabric}: results checked on every rank. */
class GroupTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  /** Runs body(rank's group) on every rank in its own thread; returns the results by rank. */
  static <T> List<T> onEveryRank(LocalFabric fabric, Function<Group, T> body) throws Exception {
    int n = fabric.size();
    int[] ranks = new int[n];
    for (int r = 0; r < n; r++) {
      ranks[r] = r;
    }
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < n; r++) {
        Group g = new Group(fabric.transport(r), 7, ranks, TIMEOUT);
        futures.add(pool.submit(() -> body.apply(g)));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) {
        out.add(f.get(60, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** Rank r's contribution: integers, so that sums are exact in any order. */
  private static float[] data(int rank, int len) {
    float[] x = new float[len];
    for (int i = 0; i < len; i++) {
      x[i] = (rank + 1) * (i % 1013) - 500;
    }
    return x;
  }

  private static float[] expectedSum(int ranks, int len) {
    float[] s = new float[len];
    for (int r = 0; r < ranks; r++) {
      float[] x = data(r, len);
      for (int i = 0; i < len; i++) {
        s[i] += x[i];
      }
    }
    return s;
  }

  @ParameterizedTest(name = "{0} ranks")
  @ValueSource(ints = {1, 2, 3, 4})
  void allReduceSumsOnEveryRank_smallRingAndChunked(int n) throws Exception {
    // 1000 floats: direct exchange; 100,003: ring; 2,500,001: ring with frames of CHUNK_FLOATS, their
    // chunks encoded and summed on the calling thread and on the codec threads.
    for (boolean onCodecThreads : new boolean[] {false, true}) {
      boolean was = CodecThreads.forFp32(onCodecThreads);
      try {
        for (int len : new int[] {1000, 100_003, 2 * Group.CHUNK_FLOATS + 402_153}) {
          List<float[]> got = onEveryRank(new LocalFabric(n), g -> {
            float[] x = data(g.index(), len);
            g.allReduce(x, 1);
            return x;
          });
          float[] want = expectedSum(n, len);
          for (int r = 0; r < n; r++) {
            assertArrayEquals(want, got.get(r), "rank " + r + " of " + n + ", " + len + " floats, chunks on codec "
                + "threads: " + onCodecThreads);
          }
        }
      } finally {
        CodecThreads.forFp32(was);
      }
    }
  }

  @Test
  void allReduceMeanAverages() throws Exception {
    List<float[]> got = onEveryRank(new LocalFabric(4), g -> {
      float[] x = {g.index(), 2f * g.index()};
      g.allReduceMean(x, 1);
      return x;
    });
    for (float[] x : got) {
      assertArrayEquals(new float[] {1.5f, 3f}, x);
    }
  }

  @Test
  void allReduceOfRandomFloatsGivesTheSameBitsOnEveryRank() throws Exception {
    int n = 4;
    for (int len : new int[] {5000, 300_001}) {
      List<float[]> got = onEveryRank(new LocalFabric(n), g -> {
        Random rnd = new Random(g.index());
        float[] x = new float[len];
        for (int i = 0; i < len; i++) {
          x[i] = (float) rnd.nextGaussian();
        }
        g.allReduce(x, 3);
        return x;
      });
      for (int r = 1; r < n; r++) {
        assertArrayEquals(got.get(0), got.get(r), "rank " + r);
      }
    }
  }

  @ParameterizedTest(name = "{0} ranks")
  @ValueSource(ints = {2, 3, 4})
  void reduceScatterAllGatherAllToAllBroadcastAndBarrier(int n) throws Exception {
    int len = 10_007;
    List<float[][]> got = onEveryRank(new LocalFabric(n), g -> {
      int me = g.index();
      float[] seg = g.reduceScatter(data(me, len), 1);
      int[] counts = new int[n];
      for (int m = 0; m < n; m++) {
        counts[m] = 3 * m + 1;
      }
      float[] mine = new float[counts[me]];
      java.util.Arrays.fill(mine, me + 0.5f);
      float[] gathered = g.allGather(mine, counts, 1);
      float[][] send = new float[n][];
      for (int m = 0; m < n; m++) {
        send[m] = new float[(me + m) % 3 == 0 ? 0 : me * 10 + m]; // some empty
        java.util.Arrays.fill(send[m], me * 100 + m);
      }
      float[][] recv = g.allToAllV(send, 1);
      float[] b = me == 1 ? data(9, 5000) : new float[5000];
      g.broadcast(b, 1, 1);
      g.barrier(1);
      float[][] out = new float[3 + n][];
      out[0] = seg;
      out[1] = gathered;
      out[2] = b;
      System.arraycopy(recv, 0, out, 3, n);
      return out;
    });
    float[] sum = expectedSum(n, len);
    int off = 0;
    for (int r = 0; r < n; r++) {
      float[][] o = got.get(r);
      int segLen = len / n + (r < len % n ? 1 : 0);
      assertArrayEquals(java.util.Arrays.copyOfRange(sum, off, off + segLen), o[0], "reduce-scatter, rank " + r);
      off += segLen;
      int p = 0;
      for (int m = 0; m < n; m++) {
        for (int k = 0; k < 3 * m + 1; k++) {
          assertEquals(m + 0.5f, o[1][p++], "all-gather on rank " + r);
        }
      }
      assertEquals(p, o[1].length);
      assertArrayEquals(data(9, 5000), o[2], "broadcast to rank " + r);
      for (int m = 0; m < n; m++) {
        float[] fromM = o[3 + m];
        assertEquals((m + r) % 3 == 0 ? 0 : m * 10 + r, fromM.length, "all-to-all " + m + " -> " + r);
        for (float v : fromM) {
          assertEquals(m * 100 + r, v);
        }
      }
    }
  }

  @Test
  void aReceiveWithNoSenderTimesOutNamingThePeer() {
    LocalFabric fabric = new LocalFabric(2);
    long t0 = System.nanoTime();
    CommException.Timeout e = assertThrows(CommException.Timeout.class,
        () -> fabric.transport(0).receive(1, new MessageKey(1, 5, 2), Duration.ofMillis(200)));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(ms >= 190 && ms < 5000, ms + " ms");
    assertTrue(e.getMessage().contains("rank 1") && e.getMessage().contains("group 1 tag 5 step 2"), e.getMessage());
  }

  @Test
  void aRankThatLeavesMidCollectiveFailsTheOthersPromptlyNamingIt() throws Exception {
    int n = 4;
    LocalFabric fabric = new LocalFabric(n);
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int r = 0; r < n - 1; r++) { // rank 3 never joins the collective
        Group g = new Group(fabric.transport(r), 2, new int[] {0, 1, 2, 3}, TIMEOUT);
        futures.add(pool.submit(() -> {
          g.allReduce(new float[200_000], 1);
          return null;
        }));
      }
      Thread.sleep(300);
      long t0 = System.nanoTime();
      fabric.kill(3);
      for (Future<?> f : futures) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof CommException.PeerLost, e.getCause().toString());
        assertTrue(e.getCause().getMessage().contains("rank 3 is gone"), e.getCause().getMessage());
      }
      assertTrue((System.nanoTime() - t0) / 1e9 < TIMEOUT.toSeconds(), "failed before the timeout");
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aCorruptFrameFailsItsReceiveNamingTheSenderAndTheNextStepWorks() throws Exception {
    LocalFabric fabric = new LocalFabric(2);
    fabric.tamper(f -> {
      byte[] b = f.clone();
      b[b.length - 1] ^= 1; // a bit of the payload
      return b;
    });
    List<String> errors = onEveryRank(fabric, g -> {
      try {
        g.allReduce(new float[10], 1);
        return "no error";
      } catch (CommException.BadFrame e) {
        return e.getMessage();
      }
    });
    assertTrue(errors.get(0).contains("corrupt frame from rank 1"), errors.get(0));
    assertTrue(errors.get(1).contains("corrupt frame from rank 0"), errors.get(1));
    fabric.tamper(f -> f);
    List<float[]> next = onEveryRank(fabric, g -> {
      float[] x = {g.index() + 1f};
      g.allReduce(x, 2);
      return x;
    });
    assertEquals(3f, next.get(0)[0]);
    assertEquals(3f, next.get(1)[0]);
  }

  @Test
  void trafficIsCountedPerGroup() throws Exception {
    LocalFabric fabric = new LocalFabric(2);
    onEveryRank(fabric, g -> {
      g.allReduce(new float[1000], 1);
      return null;
    });
    Traffic.Counts c = fabric.transport(0).traffic().snapshot().get(7);
    assertEquals(4000, c.bytesSent());
    assertEquals(1, c.messagesSent());
    assertEquals(4000, c.bytesReceived());
    onEveryRank(fabric, g -> {
      g.allReduceCompressed(new float[4096], "w", Codecs.ONE_BIT, new ErrorFeedback(), 2);
      return null;
    });
    var byCodec = fabric.transport(0).traffic().byCodec();
    assertEquals(4000, byCodec.get(new Traffic.Key(7, Codec.FP32)).bytesSent());
    // Two 1-bit messages of a 2048-float segment each: a 4-byte scale and 256 bytes of signs.
    assertEquals(2 * 260, byCodec.get(new Traffic.Key(7, Codec.ONE_BIT)).bytesSent());
  }

  @Test
  void compressedAllReduceIsExactWithFp32AndTracksTheSumWithErrorFeedback() throws Exception {
    int n = 4;
    int len = 10_000;
    LocalFabric fabric = new LocalFabric(n);
    List<float[]> exact = onEveryRank(fabric, g -> {
      float[] x = data(g.index(), len);
      g.allReduceCompressed(x, "w", Codecs.FP32, new ErrorFeedback(), 1);
      return x;
    });
    for (float[] x : exact) {
      assertArrayEquals(expectedSum(n, len), x);
    }
    for (Codec c : List.of(Codecs.INT8, Codecs.FP8, Codecs.ONE_BIT, Codecs.topK(0.05))) {
      int steps = 60;
      List<double[]> sums = onEveryRank(new LocalFabric(n), g -> {
        ErrorFeedback ef = new ErrorFeedback();
        double[] sum = new double[len];
        for (int t = 0; t < steps; t++) {
          Random rnd = new Random(1000L * t + g.index());
          float[] x = new float[len];
          for (int i = 0; i < len; i++) {
            x[i] = (float) rnd.nextGaussian();
          }
          g.allReduceCompressed(x, "w", c, ef, t);
          for (int i = 0; i < len; i++) {
            sum[i] += x[i];
          }
        }
        return sum;
      });
      double[] truth = new double[len];
      for (int t = 0; t < steps; t++) {
        for (int r = 0; r < n; r++) {
          Random rnd = new Random(1000L * t + r);
          for (int i = 0; i < len; i++) {
            truth[i] += (float) rnd.nextGaussian();
          }
        }
      }
      double gap = 0;
      for (int i = 0; i < len; i++) {
        gap = Math.max(gap, Math.abs(sums.get(0)[i] - truth[i]));
      }
      // Residuals of the worker and the owner stages bound the gap; without feedback 1-bit drifts by O(steps).
      System.out.println("GAP " + c + " " + gap);
      assertTrue(gap < 40, c + ": cumulative gap " + gap);
      for (int r = 1; r < n; r++) {
        assertArrayEquals(sums.get(0), sums.get(r), c + ": rank " + r + " differs");
      }
    }
  }

  /** What one whole segment through a codec gives: decode(encode(x[off..off+len))). */
  private static float[] through(Codec c, float[] x, int off, int len) {
    float[] d = new float[len];
    c.decode(c.encode(x, off, len), d, 0, len);
    return d;
  }

  /**
   * Three members, segments of three chunks (the last ragged) and uneven segments: the chunked, pipelined compressed
   * sum gives the bits of the plain algorithm, each member's whole segment encoded at once, summed
   * in member order and encoded again by its owner (the block codecs' blocks divide a chunk).
   */
  @Test
  void aCompressedSumOfManyChunksEqualsWholeSegmentsEncodedAtOnce() throws Exception {
    int n = 3;
    for (Codec c : List.of(Codecs.BF16, Codecs.INT8, Codecs.FP8, Codecs.ONE_BIT)) {
      int len = n * (2 * CompressedSum.chunkFloats(c) + 777) + 2;
      float[][] xs = new float[n][len];
      for (int m = 0; m < n; m++) {
        Random rnd = new Random(7 + m);
        for (int i = 0; i < len; i++) {
          xs[m][i] = (float) rnd.nextGaussian() * (1 + i % 5);
        }
      }
      List<float[]> got = onEveryRank(new LocalFabric(n), g -> {
        float[] x = xs[g.index()].clone();
        g.allReduceCompressed(x, "w", c, new ErrorFeedback(), 4);
        return x;
      });
      int[] counts = Group.evenCounts(len, n);
      float[] want = new float[len];
      int off = 0;
      for (int seg = 0; seg < n; seg++) {
        float[] sum = new float[counts[seg]];
        for (int m = 0; m < n; m++) {
          float[] q = through(c, xs[m], off, counts[seg]);
          for (int i = 0; i < q.length; i++) {
            sum[i] += q[i];
          }
        }
        System.arraycopy(through(c, sum, 0, sum.length), 0, want, off, sum.length);
        off += counts[seg];
      }
      for (int r = 0; r < n; r++) {
        assertArrayEquals(want, got.get(r), c.name() + ": rank " + r);
      }
    }
  }

  /** A compressed sum whose peer never comes fails within the group's timeout, naming it. */
  @Test
  void aCompressedSumWithoutItsPeerTimesOutNamingIt() {
    LocalFabric fabric = new LocalFabric(2);
    Group g = new Group(fabric.transport(0), 7, new int[] {0, 1}, Duration.ofMillis(500));
    float[] x = new float[3 * CompressedSum.chunkFloats(Codecs.BF16)];
    long t0 = System.nanoTime();
    CommException e = assertThrows(CommException.class,
        () -> g.allReduceCompressed(x, "w", Codecs.BF16, new ErrorFeedback(), 1));
    assertTrue((System.nanoTime() - t0) / 1e9 < 5, "failed within the timeouts");
    assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
  }

  /** The codec pool: cores - 1 by default, the property's count when set, and a clear error for a bad one. */
  @Test
  void theCodecPoolTakesItsSizeFromThePropertyAndRefusesABadOne() {
    assertEquals(15, CodecThreads.size(null, 16));
    assertEquals(1, CodecThreads.size(" ", 1));
    assertEquals(7, CodecThreads.size("7", 16));
    for (String bad : new String[] {"0", "-2", "seven"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CodecThreads.size(bad, 16));
      assertTrue(e.getMessage().contains("tessera.comm.codecThreads=" + bad), e.getMessage());
    }
  }

  /**
   * Members that disagree on a tensor's length (a bug elsewhere) fail at the chunk that does not fit,
   * naming the sender, not after waiting out the timeout for a chunk that never comes.
   */
  @ParameterizedTest(name = "chunks on codec threads: {0}")
  @ValueSource(booleans = {false, true})
  void aChunkOfTheWrongLengthFailsAtOnceNamingItsSender(boolean onCodecThreads) throws Exception {
    boolean was = CodecThreads.forFp32(onCodecThreads);
    try {
      wrongLength();
    } finally {
      CodecThreads.forFp32(was);
    }
  }

  private static void wrongLength() {
    LocalFabric fabric = new LocalFabric(2);
    Duration timeout = Duration.ofSeconds(20);
    Group root = new Group(fabric.transport(0), 3, new int[] {0, 1}, timeout);
    Group other = new Group(fabric.transport(1), 3, new int[] {0, 1}, timeout);
    root.broadcast(new float[2 * Group.CHUNK_FLOATS + 100], 0, 1); // sends at once: chunks of 128 Ki, 128 Ki, 100
    long t0 = System.nanoTime();
    CommException.BadFrame e = assertThrows(CommException.BadFrame.class,
        () -> other.broadcast(new float[4 * Group.CHUNK_FLOATS], 0, 1));
    assertTrue((System.nanoTime() - t0) / 1e9 < 10, "failed before the timeout");
    assertTrue(e.getMessage().contains("from rank 0") && e.getMessage().contains("got 400 bytes"), e.getMessage());
  }
}
