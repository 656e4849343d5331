package dev.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.model.io.Safetensors;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.TrainConfigs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tessera launch} with real worker JVMs over Hazelcast on loopback, on OpenCL (pocl): a worker
 * killed with SIGKILL mid-run, a worker killed while writing a checkpoint, and Ctrl-C followed by a
 * resume on another mesh all end where an uninterrupted dp2 run of the same seed ends.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterLaunchTest {
  private static final int STEPS = 24;

  @TempDir
  static Path tmp;

  /** The uninterrupted dp2 run every test compares with. */
  private Path baseline;

  private Map<String, Object> config(Path out) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", out.toString());
    o.put("steps", STEPS);
    o.put("n-layer", 1);
    o.put("n-embd", 32);
    o.put("batch-size", 16);
    o.put("eval-every", 8);
    o.put("eval-batches", 2);
    o.put("checkpoint-every", 8);
    o.put("device", "cpu");
    o.put("dp", 2);
    o.put("tp", 1);
    return o;
  }

  private static LaunchRun.Options options() {
    return new LaunchRun.Options(2, false, "127.0.0.1", "384m", 2, Duration.ofSeconds(120), Duration.ofSeconds(8),
        Duration.ofSeconds(120), null);
  }

  /** The CLI flags of {@link #config} and {@link #options}. */
  private static List<String> flags(Path out) {
    return new ArrayList<>(List.of("launch", "--workers", "2", "--dp", "2", "--worker-heap", "384m", "--steps",
        Integer.toString(STEPS), "--n-layer", "1", "--n-embd", "32", "--batch-size", "16", "--eval-every", "8",
        "--eval-batches", "2", "--checkpoint-every", "8", "--device", "cpu", "--out", out.toString()));
  }

  @BeforeAll
  void uninterruptedRun() {
    LauncherTest.requireOpenClCpu();
    baseline = tmp.resolve("baseline");
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, config(baseline)), options());
    assertEquals(0, r.launch().recoveries().size(), "the baseline run lost no worker");
    assertTrue(r.launch().firstStepSeconds() > 0);
  }

  @Test
  void aWorkerKilledMidRunIsReplacedAndTheRunEndsAsIfUninterrupted() throws Exception {
    Path run = tmp.resolve("killed");
    long[] killedAt = new long[1];
    Thread killer = new Thread(() -> {
      try {
        waitForStep(run, 12, 120);
        long pid = pidOf(run, 1, 1);
        killedAt[0] = System.currentTimeMillis();
        assertTrue(ProcessHandle.of(pid).orElseThrow().destroyForcibly(), "SIGKILL sent to rank 1"); // SIGKILL on Linux
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    killer.start();
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, config(run)), options());
    killer.join(10_000);
    assertEquals(1, r.launch().recoveries().size(), "one recovery");
    LaunchRun.Recovery rec = r.launch().recoveries().get(0);
    assertTrue(rec.cause().contains("rank 1") && rec.cause().contains("SIGKILL"), rec.cause());
    long detection = rec.noticedAtEpochMs() - killedAt[0];
    assertTrue(detection >= 0 && detection < 10_000, "noticed " + detection + " ms after the kill");
    assertTrue(rec.fromStep() == 8 || rec.fromStep() == 16, "restarted from a checkpoint: " + rec.fromStep());
    assertSameFinalModel(run);
    Checkpoints.Manifest m = Checkpoints.verify(run.resolve("checkpoints/step-" + STEPS)).manifest();
    assertEquals(2, m.mesh().get("dp"), "the manifest names the mesh: " + m.mesh());
    assertEquals(32, m.model().nEmbd(), "and the model: " + m.model());
  }

  @Test
  void aWorkerKilledWhileWritingACheckpointLeavesThePreviousOneToResumeFrom() throws Exception {
    Path run = tmp.resolve("killed-in-checkpoint");
    Result r = tessera(Map.of("TESSERA_FAULT", "halt-in-checkpoint:16"), flags(run));
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("rank 0 (pid"), r.out());
    assertTrue(r.out().contains("exited with code 137"), r.out());
    assertTrue(r.out().contains("attempt 2 starts from " + run.resolve("checkpoints").resolve("step-8")
        + " (step 8)"), r.out());
    assertTrue(r.out().contains("1 worker restart(s)"), r.out());
    assertSameFinalModel(run);
  }

  @Test
  void ctrlCCheckpointsAndStopsEveryWorkerAndTheRunResumesOnAnotherMesh() throws Exception {
    Path run = tmp.resolve("interrupted");
    Path log = tmp.resolve("interrupted.log");
    Process p = start(Map.of(), flags(run), log);
    try {
      waitForStep(run, 10, 120);
      new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
      assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the launch stopped after SIGINT");
    } finally {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertEquals(130, p.exitValue(), out);
    assertTrue(out.contains("stopped at step"), out);
    for (int rank = 0; rank < 2; rank++) {
      long pid = pidOf(run, 1, rank);
      assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "worker " + rank + " is gone");
    }
    int stoppedAt = Integer.parseInt(out.replaceAll("(?s).*stopped at step (\\d+) of.*", "$1"));
    assertTrue(Files.isDirectory(run.resolve("checkpoints").resolve("step-" + stoppedAt)), out);

    List<String> resume = new ArrayList<>(List.of("launch", "--resume", run.toString(), "--workers", "2", "--tp", "2",
        "--worker-heap", "384m"));
    Result r = tessera(Map.of(), resume);
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("layout: dp=1 tp=2"), r.out());
    double[][] want = LaunchAssertions.losses(baseline);
    double[][] got = LaunchAssertions.losses(run);
    assertEquals(STEPS, got.length);
    for (int s = stoppedAt; s < STEPS; s++) {
      LaunchAssertions.close("step " + s + " after resuming dp2 -> tp2", want[s], got[s], 1e-5);
    }
  }

  private void assertSameFinalModel(Path run) throws IOException {
    Map<String, Safetensors.Entry> want = Checkpoints.wholeTensors(Checkpoints.verify(baseline.resolve(
        "checkpoints/step-" + STEPS)), true);
    Map<String, Safetensors.Entry> got = Checkpoints.wholeTensors(Checkpoints.verify(run.resolve(
        "checkpoints/step-" + STEPS)), true);
    assertEquals(want.keySet(), got.keySet());
    for (String name : want.keySet()) {
      float[] a = want.get(name).data();
      float[] b = got.get(name).data();
      assertEquals(a.length, b.length, name);
      for (int i = 0; i < a.length; i++) {
        if (a[i] != b[i]) {
          fail(name + "[" + i + "]: " + b[i] + " after the recovery, " + a[i] + " uninterrupted (same seed, same "
              + "layout: a resumed run must be bit-identical)");
        }
      }
    }
  }

  private static void waitForStep(Path run, int step, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    Path csv = run.resolve("metrics.csv");
    while (System.nanoTime() < deadline) {
      if (Files.exists(csv) && Files.readAllLines(csv).stream().anyMatch(l -> l.startsWith(step + ","))) {
        return;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("step " + step + " of " + run + " not recorded within " + seconds + " s");
  }

  private static long pidOf(Path run, int attempt, int rank) throws IOException {
    for (String line : Files.readAllLines(run.resolve("workers/attempt-" + attempt + ".pids"))) {
      String[] f = line.split(" ");
      if (Integer.parseInt(f[0]) == rank) {
        return Long.parseLong(f[1]);
      }
    }
    throw new AssertionError("no pid of rank " + rank);
  }

  record Result(int exit, String out) {
  }

  private Process start(Map<String, String> env, List<String> args, Path log) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(LauncherTest.ROOT.resolve("tessera").toString()));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(LauncherTest.ROOT.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().putAll(env);
    return pb.start();
  }

  private Result tessera(Map<String, String> env, List<String> args) throws Exception {
    Path log = Files.createTempFile(tmp, "tessera", ".log");
    Process p = start(env, args, log);
    if (!p.waitFor(240, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("./tessera " + String.join(" ", args) + " did not finish within 240 s:\n" + Files.readString(log));
    }
    return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }
}
