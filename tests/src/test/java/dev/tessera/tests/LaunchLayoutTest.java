package dev.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.model.io.Safetensors;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.TrainConfigs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Layout dp2 x tp2 as four worker JVMs over Hazelcast on loopback (OpenCL on pocl): the data-parallel
 * sums run on each worker's communication thread during the backward while its tensor-parallel
 * collectives run on the training thread, over the same transport. Losses, gradient norms,
 * validation losses and the final parameters and moments are one worker's (1e-5, fp32).
 */
class LaunchLayoutTest {
  private static final int STEPS = 6;

  @TempDir
  Path tmp;

  private static Map<String, Object> config(Path out, int dp, int tp) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", out.toString());
    o.put("steps", STEPS);
    o.put("n-layer", 2);
    o.put("n-embd", 32);
    o.put("n-head", 4);
    o.put("batch-size", 8);
    o.put("eval-every", 3);
    o.put("eval-batches", 2);
    o.put("device", "cpu");
    o.put("dp", dp);
    o.put("tp", tp);
    return o;
  }

  @Test
  void dp2xtp2OverFourWorkerProcessesTrainsLikeOneWorker() throws Exception {
    LauncherTest.requireOpenClCpu();
    Path one = tmp.resolve("one");
    Path four = tmp.resolve("dp2xtp2");
    TrainRun.start(TrainConfigs.resolve(null, config(one, 1, 1)));
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, config(four, 2, 2)), new LaunchRun.Options(4,
        false, "127.0.0.1", "384m", 0, Duration.ofSeconds(120), Duration.ofSeconds(8), Duration.ofSeconds(120),
        null));
    assertTrue(r.wireBytesPerStep().getOrDefault("dp", 0.0) > 0 && r.wireBytesPerStep().getOrDefault("tp", 0.0) > 0,
        "both axes talked: " + r.wireBytesPerStep());
    LaunchAssertions.quietEnd(four, ""); // the coordinator's output is this JVM's: the workers' logs
    double[][] want = LaunchAssertions.losses(one);
    double[][] got = LaunchAssertions.losses(four);
    assertEquals(want.length, got.length);
    for (int s = 0; s < want.length; s++) {
      LaunchAssertions.close("dp2xtp2 step " + s, want[s], got[s], 1e-5);
    }
    Map<String, Safetensors.Entry> a = Checkpoints.wholeTensors(Checkpoints.verify(one.resolve("checkpoints/step-"
        + STEPS)), true);
    Map<String, Safetensors.Entry> b = Checkpoints.wholeTensors(Checkpoints.verify(four.resolve("checkpoints/step-"
        + STEPS)), true);
    assertEquals(a.keySet(), b.keySet());
    for (String name : a.keySet()) {
      float[] x = a.get(name).data();
      float[] y = b.get(name).data();
      assertEquals(x.length, y.length, name);
      double scale = 0;
      double err = 0;
      for (int i = 0; i < x.length; i++) {
        scale = Math.max(scale, Math.abs(x[i]));
        err = Math.max(err, Math.abs(x[i] - y[i]));
      }
      assertTrue(err <= 1e-5 * Math.max(scale, 1e-30), "dp2xtp2 " + name + ": largest difference " + err
          + " against a largest value of " + scale);
    }
  }

  /**
   * pocl made to show three CPU devices (POCL_DEVICES="pthread pthread pthread") stands in for a host
   * with three GPUs: a dp2 launch with {@code --devices 2,0} puts worker 0 on device 2 and worker 1 on
   * device 0, says so for each rank, and still trains like one worker.
   */
  @Test
  void eachWorkerOpensItsOwnDeviceWhenThereAreSeveral() throws Exception {
    LauncherTest.requireOpenClCpu();
    Path one = tmp.resolve("one-device");
    Map<String, Object> o = config(one, 1, 1);
    o.put("steps", 4);
    o.put("eval-every", 2);
    TrainRun.start(TrainConfigs.resolve(null, o));
    Path two = tmp.resolve("two-devices");
    Path log = tmp.resolve("two-devices.log");
    ProcessBuilder pb = new ProcessBuilder(LauncherTest.ROOT.resolve("tessera").toString(), "launch", "--workers", "2",
        "--dp", "2", "--device", "cpu", "--devices", "2,0", "--steps", "4", "--n-layer", "2", "--n-embd", "32", "--n-head", "4",
        "--batch-size", "8", "--eval-every", "2", "--eval-batches", "2", "--worker-heap", "384m", "--out",
        two.toString()).directory(LauncherTest.ROOT.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("POCL_DEVICES", "pthread pthread pthread");
    Process p = pb.start();
    if (!p.waitFor(240, java.util.concurrent.TimeUnit.SECONDS)) {
      p.destroyForcibly();
      org.junit.jupiter.api.Assertions.fail("the launch did not finish within 240 s:\n" + java.nio.file.Files
          .readString(log));
    }
    String out = java.nio.file.Files.readString(log);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("device of rank 0: OpenCL CPU 2 of 3: "), out);
    assertTrue(out.contains("device of rank 1: OpenCL CPU 0 of 3: "), out);
    double[][] want = LaunchAssertions.losses(one);
    double[][] got = LaunchAssertions.losses(two);
    assertEquals(want.length, got.length);
    for (int s = 0; s < want.length; s++) {
      LaunchAssertions.close("dp2 on two devices, step " + s, want[s], got[s], 1e-5);
    }
    LaunchAssertions.quietEnd(two, out);
  }
}
