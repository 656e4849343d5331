package dev.tessera.coordinator.run;

import dev.tessera.worker.TrainConfigs;
import dev.tessera.worker.Checkpoints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.TestBackends;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Short runs on the built-in corpus, on OpenCL: the run directory, resume, corrupt checkpoints, bad input. */
class TrainRunTest {
  @TempDir
  Path tmp;

  @BeforeEach
  void needsOpenCl() {
    TestBackends.openCl(); // skips with the reason, or fails under CI, when there is no OpenCL CPU device
  }

  private Map<String, Object> small(Path out, int steps) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", out.toString());
    o.put("steps", steps);
    o.put("n-layer", 1);
    o.put("n-embd", 32);
    o.put("n-head", 2);
    o.put("block-size", 16);
    o.put("batch-size", 4);
    o.put("eval-every", 10);
    o.put("eval-batches", 2);
    o.put("checkpoint-every", 10);
    o.put("device", "cpu");
    return o;
  }

  @Test
  void aRunWritesItsDirectory() throws Exception {
    Path out = tmp.resolve("run");
    TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, small(out, 20)));
    for (String f : List.of("config.yaml", "train.log", "metrics.csv", "loss.png", "report.md",
        "checkpoints/step-10/manifest.json", "checkpoints/step-20/rank-0.safetensors")) {
      assertTrue(Files.exists(out.resolve(f)), f + " exists");
    }
    List<String> metrics = Files.readAllLines(out.resolve("metrics.csv"));
    assertEquals("step,train_loss,val_loss,lr,grad_norm,tokens_per_s", metrics.get(0));
    assertEquals(21, metrics.size());
    String report = Files.readString(out.resolve("report.md"));
    assertTrue(report.contains("Bayes optimum") && report.contains("Remaining gap"), report);
    assertTrue(r.valLoss() < r.baselines()[2], "below ln(alphabet) after 20 steps: " + r.valLoss());
    assertTrue(Files.readString(out.resolve("train.log")).contains("checkpoint:"));
    String text = Sampler.sample(out, "ab", 10, 1f, 0, 1, "cpu");
    assertTrue(text.startsWith("ab") && text.length() == 12, text);
  }

  @Test
  void aResumedRunEqualsAnUninterruptedOne() throws Exception {
    Path a = tmp.resolve("a");
    TrainRun.start(TrainConfigs.resolve(null, small(a, 30)));
    // "Crash" after step 20: a copy of the run without its last checkpoint and metrics rows.
    Path b = tmp.resolve("b");
    copy(a, b);
    Checkpoints.deleteTree(b.resolve("checkpoints/step-30"));
    TrainRun.resume(b, Map.of());
    assertEquals(Files.readAllLines(a.resolve("metrics.csv")).stream().map(TrainRunTest::withoutSpeed).toList(),
        Files.readAllLines(b.resolve("metrics.csv")).stream().map(TrainRunTest::withoutSpeed).toList(),
        "the loss curve is bit-identical");
    assertArrayEquals(Files.readAllBytes(a.resolve("checkpoints/step-30/rank-0.safetensors")),
        Files.readAllBytes(b.resolve("checkpoints/step-30/rank-0.safetensors")), "the final parameters are identical");
  }

  @Test
  void aCorruptCheckpointIsReportedAndThePreviousOneUsed() throws Exception {
    Path a = tmp.resolve("a");
    TrainRun.start(TrainConfigs.resolve(null, small(a, 20)));
    Path model = a.resolve("checkpoints/step-20/rank-0.safetensors");
    byte[] bytes = Files.readAllBytes(model);
    bytes[bytes.length - 1] ^= 0x5A;
    Files.write(model, bytes);
    StringBuilder warnings = new StringBuilder();
    Checkpoints.Checkpoint c = Checkpoints.latest(a, warnings::append).orElseThrow();
    assertEquals(10, c.manifest().step());
    assertTrue(warnings.toString().contains("step-20") && warnings.toString().contains("SHA-256"), warnings.toString());
    Files.delete(a.resolve("checkpoints/step-10/manifest.json"));
    assertTrue(Checkpoints.latest(a, w -> { }).isEmpty(), "a checkpoint without its manifest is not used");
  }

  @Test
  void badDataFailsBeforeAnythingIsWritten() throws Exception {
    Path out = tmp.resolve("never");
    Map<String, Object> o = small(out, 5);
    o.put("data", tmp.resolve("missing.txt").toString());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TrainRun.start(TrainConfigs.resolve(null, o)));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    assertFalse(Files.exists(out), "no run directory for a run that cannot start");
  }

  @Test
  void resumingRefusesToChangeTheModel() throws Exception {
    Path a = tmp.resolve("a");
    TrainRun.start(TrainConfigs.resolve(null, small(a, 10)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TrainRun.resume(a, Map.of("n-layer", 2)));
    assertTrue(e.getMessage().contains("--n-layer cannot change when resuming"), e.getMessage());
  }

  private static String withoutSpeed(String csvLine) {
    return csvLine.substring(0, csvLine.lastIndexOf(','));
  }

  private static void copy(Path from, Path to) throws Exception {
    try (var s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path q = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(q);
        } else {
          Files.copy(p, q);
        }
      }
    }
  }

  @Test
  void exportWritesTheNewestGoodCheckpointsModelToOneFile() throws Exception {
    Path out = tmp.resolve("run");
    TrainRun.start(TrainConfigs.resolve(null, small(out, 20)));
    Path file = tmp.resolve("model.safetensors");
    assertEquals(20, Checkpoints.export(out, file, w -> { }));
    Map<String, dev.tessera.model.io.Safetensors.Entry> got = dev.tessera.model.io.Safetensors.read(file);
    Map<String, dev.tessera.model.io.Safetensors.Entry> want = Checkpoints.wholeTensors(
        Checkpoints.verify(Checkpoints.dir(out).resolve("step-20")), false);
    assertEquals(want.keySet(), got.keySet());
    assertTrue(got.containsKey("wte") && got.containsKey("h.0.attn.q.weight") && got.containsKey("norm_f.weight"),
        "documented names: " + got.keySet());
    for (String name : want.keySet()) {
      assertArrayEquals(want.get(name).data(), got.get(name).data(), name);
    }
    Map<String, String> meta = dev.tessera.model.io.Safetensors.metadata(file);
    assertEquals("tessera-model", meta.get("format"));
    assertEquals("20", meta.get("step"));
    assertTrue(meta.get("config_yaml").contains("n-embd"), meta.get("config_yaml"));

    IllegalArgumentException exists = assertThrows(IllegalArgumentException.class,
        () -> Checkpoints.export(out, file, w -> { }));
    assertTrue(exists.getMessage().contains("exists"), exists.getMessage());
    // The newest checkpoint corrupted: the previous good one is exported, and the problem reported.
    Path newest = Checkpoints.dir(out).resolve("step-20").resolve(Checkpoints.rankFile(0));
    byte[] bytes = Files.readAllBytes(newest);
    bytes[bytes.length - 1] ^= 1;
    Files.write(newest, bytes);
    List<String> warnings = new java.util.ArrayList<>();
    assertEquals(10, Checkpoints.export(out, tmp.resolve("older.safetensors"), warnings::add));
    assertTrue(warnings.size() == 1 && warnings.get(0).contains("step-20"), warnings.toString());
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> Checkpoints.export(tmp.resolve("nothing"), tmp.resolve("x.safetensors"), w -> { }));
    assertTrue(none.getMessage().contains("not a run directory"), none.getMessage());
  }
}
