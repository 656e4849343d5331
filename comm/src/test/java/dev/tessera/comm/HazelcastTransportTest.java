package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Hazelcast members in this JVM (the cross-process tests fork JVMs: {@code ProcessClusterTest}). */
class HazelcastTransportTest {
  static List<String> freeLoopbackPorts(int n) throws IOException {
    List<String> out = new ArrayList<>();
    List<ServerSocket> held = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
        held.add(s);
        out.add("127.0.0.1:" + s.getLocalPort());
      }
    } finally {
      for (ServerSocket s : held) {
        s.close();
      }
    }
    return out;
  }

  /** Starts a member for each rank of {@code members} side by side (they wait for each other). */
  static List<HazelcastTransport> startAll(ExecutorService pool, String cluster, List<String> members, String secret)
      throws Exception {
    List<Future<HazelcastTransport>> starting = new ArrayList<>();
    for (int r = 0; r < members.size(); r++) {
      HazelcastTransport.Settings s = HazelcastTransport.Settings.loopback(cluster, r, members, Duration.ofSeconds(30));
      starting.add(pool.submit(() -> HazelcastTransport.start(secret == null ? s : s.withSecret(secret))));
    }
    List<HazelcastTransport> out = new ArrayList<>();
    for (Future<HazelcastTransport> f : starting) {
      out.add(f.get(60, TimeUnit.SECONDS));
    }
    return out;
  }

  @Test
  void threeMembersAllReduceAndAMissingRankIsNamed() throws Exception {
    int n = 3;
    List<String> members = freeLoopbackPorts(n);
    String cluster = "tessera-test-" + System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(n);
    List<HazelcastTransport> ts = new ArrayList<>();
    try {
      ts.addAll(startAll(pool, cluster, members, null));
      int len = 3 * Group.CHUNK_FLOATS / 2 + 17;
      List<Future<float[]>> results = new ArrayList<>();
      for (HazelcastTransport t : ts) {
        results.add(pool.submit(() -> {
          Group g = new Group(t, 1, new int[] {0, 1, 2}, Duration.ofSeconds(30));
          float[] x = new float[len];
          for (int i = 0; i < len; i++) {
            x[i] = (t.rank() + 1) * (i % 101);
          }
          g.allReduce(x, 1);
          return x;
        }));
      }
      float[] want = new float[len];
      for (int i = 0; i < len; i++) {
        want[i] = 6 * (i % 101);
      }
      for (Future<float[]> f : results) {
        assertArrayEquals(want, f.get(60, TimeUnit.SECONDS));
      }
      // Rank 2 leaves: a receive from it fails with its name, well before the timeout.
      ts.get(2).close();
      long t0 = System.nanoTime();
      CommException e = assertThrows(CommException.class,
          () -> ts.get(0).receive(2, new MessageKey(1, 99, 2), Duration.ofSeconds(30)));
      assertTrue(e.getMessage().contains("rank 2"), e.getMessage());
      assertTrue((System.nanoTime() - t0) / 1e9 < 20, "noticed within 20 s");
    } finally {
      for (HazelcastTransport t : ts) {
        try {
          t.close();
        } catch (RuntimeException ignored) {
          // already closed
        }
      }
      pool.shutdownNow();
    }
  }

  /**
   * A job with a secret: an intruder with the job's cluster name and a wrong secret, claiming rank 1,
   * joins the running job's cluster and is refused: the real ranks never take it for a rank and still
   * all-reduce with each other, and the intruder, unable to verify anyone, fails to start, naming what
   * it waited for and whom it refused.
   */
  @Test
  void aMemberWithoutTheJobsSecretIsRefused() throws Exception {
    List<String> ports = freeLoopbackPorts(3);
    List<String> members = ports.subList(0, 2);
    String cluster = "tessera-secret-" + System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(3);
    List<HazelcastTransport> ts = new ArrayList<>();
    try {
      ts.addAll(startAll(pool, cluster, members, "s3cret"));
      int intruderPort = Integer.parseInt(ports.get(2).substring(ports.get(2).lastIndexOf(':') + 1));
      Future<HazelcastTransport> intruder = pool.submit(() -> HazelcastTransport.start(new HazelcastTransport.Settings(
          cluster, 1, 3, "127.0.0.1", intruderPort, new HazelcastTransport.Join.TcpIp(ports), Duration.ofSeconds(8),
          "guessed")));
      java.util.concurrent.ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
          java.util.concurrent.ExecutionException.class, () -> intruder.get(60, TimeUnit.SECONDS));
      org.junit.jupiter.api.Assertions.assertTrue(e.getCause() instanceof CommException.Timeout, e.toString());
      org.junit.jupiter.api.Assertions.assertTrue(e.getCause().getMessage().contains("refused for want of the job's "
          + "secret"), e.getCause().getMessage());
      for (HazelcastTransport t : ts) {
        org.junit.jupiter.api.Assertions.assertEquals(1, t.refusedMembers(), "rank " + t.rank() + " refused the intruder");
      }
      List<Future<float[]>> results = new ArrayList<>();
      for (HazelcastTransport t : ts) {
        results.add(pool.submit(() -> {
          float[] x = {t.rank() + 1f, 10f};
          new Group(t, 1, new int[] {0, 1}, Duration.ofSeconds(30)).allReduce(x, 1);
          return x;
        }));
      }
      for (Future<float[]> f : results) {
        assertArrayEquals(new float[] {3f, 20f}, f.get(60, TimeUnit.SECONDS));
      }
    } finally {
      for (HazelcastTransport t : ts) {
        t.close();
      }
      pool.shutdownNow();
    }
  }

  /**
   * Posted frames have no confirmation, so a rank that posts and closes at once must not take them
   * down with its connections: close waits until they have reached the peer.
   */
  @Test
  void framesPostedJustBeforeCloseStillArrive() throws Exception {
    List<String> members = freeLoopbackPorts(2);
    String cluster = "tessera-post-" + System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(2);
    List<HazelcastTransport> ts = new ArrayList<>();
    try {
      ts.addAll(startAll(pool, cluster, members, null));
      int frames = 24;
      float[] x = new float[1 << 18]; // 1 MiB a frame
      for (int c = 0; c < frames; c++) {
        java.util.Arrays.fill(x, c + 0.5f);
        ts.get(0).postFloats(1, new MessageKey(1, c, 0), x, 0, x.length).get(10, TimeUnit.SECONDS);
      }
      ts.get(0).close();
      for (int c = 0; c < frames; c++) {
        float[] got = new float[x.length];
        ts.get(1).receive(0, new MessageKey(1, c, 0), Duration.ofSeconds(10)).floatsInto(got, 0, got.length, false,
            null);
        float[] want = new float[x.length];
        java.util.Arrays.fill(want, c + 0.5f);
        assertArrayEquals(want, got, "frame " + c);
      }
    } finally {
      for (HazelcastTransport t : ts) {
        t.close();
      }
      pool.shutdownNow();
    }
  }
}
