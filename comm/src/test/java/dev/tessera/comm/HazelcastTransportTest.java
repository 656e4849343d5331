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

  @Test
  void threeMembersAllReduceAndAMissingRankIsNamed() throws Exception {
    int n = 3;
    List<String> members = freeLoopbackPorts(n);
    String cluster = "tessera-test-" + System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(n);
    List<HazelcastTransport> ts = new ArrayList<>();
    try {
      List<Future<HazelcastTransport>> starting = new ArrayList<>();
      for (int r = 0; r < n; r++) {
        int rank = r;
        starting.add(pool.submit(() -> HazelcastTransport.start(
            HazelcastTransport.Settings.loopback(cluster, rank, members, Duration.ofSeconds(30)))));
      }
      for (Future<HazelcastTransport> f : starting) {
        ts.add(f.get(60, TimeUnit.SECONDS));
      }
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
}
