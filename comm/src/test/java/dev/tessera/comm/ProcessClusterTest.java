package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Collectives among real JVMs over Hazelcast on loopback, and a JVM killed mid-collective. */
class ProcessClusterTest {
  private static final String OPENS = "--add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED "
      + "--add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-exports java.base/jdk.internal.ref=ALL-UNNAMED";

  /** Whether the worker printed this line (its list grows on a reader thread: read it under its lock). */
  private static boolean saw(Worker w, String line) {
    synchronized (w.seen()) {
      return w.seen().contains(line);
    }
  }

  private record Worker(Process process, CompletableFuture<List<String>> lines, List<String> seen) {
  }

  private static Worker fork(String cluster, int rank, String mode, List<String> members) throws Exception {
    return fork(cluster, rank, mode, members, List.of());
  }

  private static Worker fork(String cluster, int rank, String mode, List<String> members, List<String> jvm)
      throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    cmd.add("-Xmx512m");
    cmd.addAll(jvm);
    cmd.addAll(List.of(OPENS.split(" ")));
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(ClusterWorker.class.getName());
    cmd.add(cluster);
    cmd.add(Integer.toString(rank));
    cmd.add(mode);
    cmd.addAll(members);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<List<String>> lines = CompletableFuture.supplyAsync(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String l;
        while ((l = r.readLine()) != null) {
          seen.add(l);
        }
      } catch (java.io.IOException e) {
        seen.add("(output closed: " + e + ")");
      }
      return seen;
    });
    return new Worker(p, lines, seen);
  }

  private static String tail(List<String> lines) {
    synchronized (lines) {
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }
  }

  /** With two JVMs the frames are traced too (-Dtessera.comm.trace), and the traces must account for every frame. */
  @ParameterizedTest(name = "{0} JVMs")
  @ValueSource(ints = {2, 4})
  void everyCollectiveIsRightOnEveryJvm(int n, @TempDir Path traces) throws Exception {
    List<String> members = HazelcastTransportTest.freeLoopbackPorts(n);
    String cluster = "tessera-proc-" + System.nanoTime();
    List<String> jvm = n == 2 ? List.of("-D" + Trace.PROPERTY + "=" + traces) : List.of();
    List<Worker> ws = new ArrayList<>();
    try {
      for (int r = 0; r < n; r++) {
        ws.add(fork(cluster, r, "check", members, jvm));
      }
      for (Worker w : ws) {
        w.process().waitFor(120, TimeUnit.SECONDS);
      }
      StringBuilder all = new StringBuilder();
      for (int r = 0; r < n; r++) {
        all.append("--- rank ").append(r).append(":\n").append(tail(ws.get(r).seen())).append('\n');
      }
      for (int r = 0; r < n; r++) {
        Worker w = ws.get(r);
        assertTrue(!w.process().isAlive(), "rank " + r + " did not finish\n" + all);
        List<String> out = w.lines().get(10, TimeUnit.SECONDS);
        assertEquals(0, w.process().exitValue(), "rank " + r + "\n" + all);
        int rank = r;
        assertTrue(out.stream().anyMatch(l -> l.startsWith("OK " + rank + " ")), "rank " + r + "\n" + all);
        // Frames go straight into their packets (FramePackets), traced or not.
        assertTrue(out.contains("DIRECT " + rank + " true"), "rank " + r + " did not write frames into packets\n" + all);
      }
      if (n == 2) {
        assertTracesAccountForEveryFrame(traces);
      }
    } finally {
      ws.forEach(w -> w.process().destroyForcibly());
    }
  }

  /**
   * Each rank's trace has the sender's stages of every frame it posted, and the other's trace the
   * receiver's stages of the same frame (by source, destination, group, tag and step).
   */
  private static void assertTracesAccountForEveryFrame(Path traces) throws Exception {
    java.util.Map<String, java.util.Set<String>> stages = new java.util.HashMap<>();
    for (int r = 0; r < 2; r++) {
      List<String> rows = Files.readAllLines(traces.resolve("rank-" + r + ".tsv"));
      assertEquals("stage\tnanos\tsource\tdestination\tgroup\ttag\tstep\tbytes", rows.get(0));
      for (String row : rows.subList(1, rows.size())) {
        String[] f = row.split("\t");
        stages.computeIfAbsent(String.join(" ", f[2], f[3], f[4], f[5], f[6]), k -> new java.util.HashSet<>()).add(f[0]);
      }
    }
    long handed = 0;
    for (var e : stages.entrySet()) {
      if (e.getValue().contains("HANDED")) {
        handed++;
        assertTrue(e.getValue().containsAll(List.of("ENCODE", "SERIALISE", "READ", "DELIVERED", "WAIT", "RECEIVED")),
            "frame " + e.getKey() + " has only the stages " + e.getValue());
      }
    }
    assertTrue(handed >= 10, "only " + handed + " posted frames traced");
  }

  @Test
  void aJvmKilledMidCollectiveFailsTheOthersWithinTheTimeoutNamingIt() throws Exception {
    int n = 4;
    List<String> members = HazelcastTransportTest.freeLoopbackPorts(n);
    String cluster = "tessera-kill-" + System.nanoTime();
    List<Worker> ws = new ArrayList<>();
    try {
      for (int r = 0; r < n; r++) {
        ws.add(fork(cluster, r, "loop", members));
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      for (int r = 0; r < n; r++) {
        int rank = r;
        while (!saw(ws.get(r), "READY " + rank)) {
          assertTrue(System.nanoTime() < deadline, "rank " + r + " never got ready:\n" + tail(ws.get(r).seen()));
          Thread.sleep(50);
        }
      }
      Thread.sleep(1000); // all-reducing now
      long t0 = System.nanoTime();
      ws.get(3).process().destroyForcibly(); // SIGKILL
      for (int r = 0; r < n - 1; r++) {
        Worker w = ws.get(r);
        assertTrue(w.process().waitFor(60, TimeUnit.SECONDS), "rank " + r + " still running:\n" + tail(w.seen()));
        String out = tail(w.lines().get(10, TimeUnit.SECONDS));
        assertTrue(out.contains("FAILED " + r + " PeerLost") && out.contains("rank 3"), "rank " + r + ":\n" + out);
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertTrue(seconds < 30, "the others failed after " + seconds + " s");
    } finally {
      ws.forEach(w -> w.process().destroyForcibly());
    }
  }
}
