package dev.tessera.coordinator.run;

import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.TrainConfigs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tessera train --dp --tp} with workers as threads: layouts dp2, tp2 and dp2 x tp2 give the
 * single worker's training and validation losses (1e-5), on the plain-Java reference device, and every
 * layout checkpoints and resumes on another.
 */
class LayoutRunTest {
  @TempDir
  Path tmp;

  private Map<String, Object> small(Path out, int dp, int tp) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", out.toString());
    o.put("steps", 4);
    o.put("n-layer", 1);
    o.put("n-embd", 32);
    o.put("n-head", 2);
    o.put("block-size", 16);
    o.put("batch-size", 4);
    o.put("eval-every", 2);
    o.put("eval-batches", 2);
    o.put("learning-rate", 1e-3f);
    o.put("device", "reference");
    o.put("dp", dp);
    o.put("tp", tp);
    return o;
  }

  private static double[][] losses(Path run) throws Exception {
    List<String> rows = Files.readAllLines(run.resolve("metrics.csv"));
    double[][] out = new double[rows.size() - 1][];
    for (int i = 1; i < rows.size(); i++) {
      String[] f = rows.get(i).split(",", -1);
      out[i - 1] = new double[] {Double.parseDouble(f[1]), f[2].isEmpty() ? Double.NaN : Double.parseDouble(f[2]),
          Double.parseDouble(f[4])};
    }
    return out;
  }

  @Test
  void everyLayoutTrainsLikeOneWorker() throws Exception {
    TrainRun.start(TrainConfigs.resolve(null, small(tmp.resolve("one"), 1, 1)));
    double[][] one = losses(tmp.resolve("one"));
    for (int[] layout : new int[][] {{2, 1}, {1, 2}, {2, 2}}) {
      Path out = tmp.resolve("dp" + layout[0] + "tp" + layout[1]);
      TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, small(out, layout[0], layout[1])));
      double[][] got = losses(out);
      assertEquals(one.length, got.length);
      for (int s = 0; s < one.length; s++) {
        for (int k = 0; k < 3; k++) { // train loss, val loss, grad norm
          if (Double.isNaN(one[s][k])) {
            assertTrue(Double.isNaN(got[s][k]));
          } else {
            assertEquals(one[s][k], got[s][k], 1e-5 * Math.abs(one[s][k]), out + " step " + s + " column " + k);
          }
        }
      }
      String log = Files.readString(out.resolve("train.log"));
      assertTrue(log.contains("layout: dp=" + layout[0] + " pp=1 tp=" + layout[1]), log);
      assertTrue(Files.exists(out.resolve("checkpoints").resolve("step-4")), "every layout checkpoints");
      assertTrue(r.valLoss() > 0);
    }
  }

  @Test
  void impossibleLayoutsAreRefusedBeforeAnythingIsWritten() {
    Path out = tmp.resolve("bad");
    IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
        () -> TrainConfigs.resolve(null, small(out, 1, 4)));
    assertTrue(heads.getMessage().contains("tp=4 does not divide the 2 attention heads"), heads.getMessage());
    Map<String, Object> o = small(out, 3, 1);
    IllegalArgumentException batch = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.resolve(null, o));
    assertTrue(batch.getMessage().contains("batch-size 4 does not split over dp=3"), batch.getMessage());
    assertFalse(Files.exists(out));
  }

  @Test
  void compressedDataParallelGradientsStillTrain() throws Exception {
    // On OpenCL: skips with the reason, or fails under CI, without it (the backend is the JVM's shared one).
    dev.tessera.kernels.TestBackends.openCl();
    // 150 steps of dp2 on the built-in corpus, exact and with 1-bit and top-1% gradients (error
    // feedback). Measured here: exact 1.837, 1-bit 1.869, top-1% 1.902 (context-free 2.079); at 300
    // steps 1.743 / 1.799 / 1.814. The check (Tiny Shakespeare, 500 steps, within 0.05) is a
    // benchmark-sized run, not done here.
    Map<String, Object> base = small(tmp.resolve("exact"), 2, 1);
    base.put("steps", 150);
    base.put("block-size", 32);
    base.put("batch-size", 16);
    base.put("learning-rate", 1e-2f);
    base.put("warmup-steps", 10);
    base.put("eval-every", 0);
    base.put("eval-batches", 4);
    base.put("device", "cpu");
    TrainRun.Result exact = TrainRun.start(TrainConfigs.resolve(null, base));
    assertTrue(exact.valLoss() < exact.baselines()[2] - 0.15, "the exact run learned: " + exact.valLoss());
    for (String codec : List.of("onebit", "topk")) {
      Map<String, Object> o = new HashMap<>(base);
      o.put("out", tmp.resolve(codec).toString());
      o.put("dp-codec", codec);
      TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, o));
      assertTrue(Files.readString(tmp.resolve(codec).resolve("train.log")).contains("gradients as " + codec));
      assertTrue(r.valLoss() - exact.valLoss() < 0.1, codec + ": validation loss " + r.valLoss() + " vs exact "
          + exact.valLoss());
      assertTrue(r.valLoss() < exact.baselines()[2] - 0.1, codec + " learned: " + r.valLoss());
    }
  }

  /**
   * Saved at dp2 x tp2, resumed at tp4 and on one worker: the next steps' losses and gradient norms
   * equal the original layout's (1e-5). The checkpoint holds one file per rank of the first dp
   * replica (the tp2 group: two files), and each rank of the new layout takes its own slices of the
   * joined tensors.
   */
  @Test
  void aCheckpointOfOneLayoutResumesOnAnother() throws Exception {
    Map<String, Object> o = small(tmp.resolve("dp2tp2"), 2, 2);
    o.put("steps", 6);
    o.put("checkpoint-every", 3);
    o.put("n-head", 4);
    o.put("batch-size", 8);
    TrainRun.start(TrainConfigs.resolve(null, o));
    Checkpoints.Checkpoint ck = Checkpoints.verify(tmp.resolve("dp2tp2").resolve("checkpoints").resolve("step-3"));
    assertEquals(2, ck.manifest().files().size(), "one file per tp rank of dp replica 0: " + ck.manifest().files());
    assertEquals(Map.of("dp", 2, "pp", 1, "tp", 2, "cp", 1, "ep", 1), ck.manifest().mesh());
    double[][] original = losses(tmp.resolve("dp2tp2"));
    for (int[] layout : new int[][] {{1, 4}, {1, 1}}) {
      Path copy = tmp.resolve("resumed-dp" + layout[0] + "tp" + layout[1]);
      copyTree(tmp.resolve("dp2tp2"), copy);
      deleteTree(copy.resolve("checkpoints").resolve("step-6"));
      TrainRun.resume(copy, Map.of("dp", layout[0], "tp", layout[1]));
      String log = Files.readString(copy.resolve("train.log"));
      assertTrue(log.contains("resumed from"), log);
      assertTrue(layout[1] == 1 || log.contains("layout: dp=1 pp=1 tp=" + layout[1]), log);
      double[][] got = losses(copy);
      assertEquals(original.length, got.length);
      for (int s = 3; s < original.length; s++) {
        assertEquals(original[s][0], got[s][0], 1e-5 * original[s][0], copy + " loss of step " + (s + 1));
        assertEquals(original[s][2], got[s][2], 1e-5 * original[s][2], copy + " gradient norm of step " + (s + 1));
      }
    }
  }

  /**
   * Layout dp2 x tp2 resumed with no step left: every rank evaluates the final state together (the
   * evaluation is split over dp and runs tp collectives) and gives the finished run's validation loss.
   */
  @Test
  void aFinishedLayoutRunResumedEvaluatesWithEveryRank() throws Exception {
    Map<String, Object> o = small(tmp.resolve("finished"), 2, 2);
    TrainRun.Result done = TrainRun.start(TrainConfigs.resolve(null, o));
    long t0 = System.nanoTime();
    TrainRun.Result again = TrainRun.resume(tmp.resolve("finished"), Map.of());
    assertTrue(System.nanoTime() - t0 < 20e9, "no collective waited for a rank that never came");
    assertEquals(done.valLoss(), again.valLoss(), 1e-5 * done.valLoss());
  }

  private static void copyTree(Path from, Path to) throws java.io.IOException {
    try (var paths = Files.walk(from)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        Files.copy(p, to.resolve(from.relativize(p).toString()));
      }
    }
  }

  private static void deleteTree(Path dir) throws java.io.IOException {
    try (var paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths.sorted(java.util.Comparator.reverseOrder())::iterator) {
        Files.delete(p);
      }
    }
  }
}
