package dev.tessera.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.aparapi.device.Device;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.kernels.opencl.OpenClDevices;
import dev.tessera.model.io.Safetensors;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.Faults;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark local[4] end to end: text files -> shards -> training dp2 x tp2 in barrier stages (four tasks,
 * each a Hazelcast member, the driver the coordinator) -> checkpoints. The run equals the same layout
 * with the workers as threads; a task failed once is replaced from the last checkpoint and the run
 * ends as if it had not failed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SparkTrainingTest {
  private static final int STEPS = 12;
  @TempDir
  static Path tmp;
  private SparkSession spark;
  private Dataset<Row> docs;
  private TesseraTrainer.Trained clean;

  private TrainConfig config(Path out) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", out.toString());
    o.put("steps", STEPS);
    o.put("n-layer", 1);
    o.put("n-embd", 32);
    o.put("n-head", 2);
    o.put("block-size", 32);
    o.put("batch-size", 8);
    o.put("eval-every", 4);
    o.put("eval-batches", 2);
    o.put("checkpoint-every", 4);
    o.put("device", "cpu");
    o.put("dp", 2);
    o.put("tp", 2);
    return TrainConfigs.resolve(null, o);
  }

  @BeforeAll
  void startSparkAndTrainOnce() throws Exception {
    if (OpenClDevices.first(Device.TYPE.CPU).isEmpty()) {
      String why = "no OpenCL CPU device: " + OpenClDevices.inventory();
      if ("true".equals(System.getenv("CI"))) {
        fail(why);
      }
      Assumptions.abort(why);
    }
    spark = SparkSession.builder().master("local[4]").appName("SparkTrainingTest")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    Path corpus = tmp.resolve("corpus");
    Files.createDirectories(corpus);
    for (int i = 0; i < 4; i++) {
      Files.writeString(corpus.resolve("act" + i + ".txt"), ("ACT " + i + ". HAMLET: To be, or not to be, that is "
          + "the question; whether 'tis nobler in the mind to suffer.\n").repeat(20), StandardCharsets.UTF_8);
    }
    docs = spark.read().option("wholetext", "true").text(corpus.toString());
    clean = new TesseraTrainer(config(tmp.resolve("spark"))).setShards(3).fit(docs);
  }

  @AfterAll
  void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  @Test
  void barrierTrainingDp2xTp2EqualsTheSameLayoutAsThreads() throws Exception {
    assertEquals(STEPS, clean.steps());
    assertTrue(Double.isFinite(clean.valLoss()));
    Checkpoints.Checkpoint ck = Checkpoints.verify(clean.checkpoint());
    assertEquals(STEPS, ck.manifest().step());
    assertEquals(2, ck.manifest().files().size(), "one file per tp rank");
    assertTrue(clean.wireBytesPerStep().get("tp") > 0 && clean.wireBytesPerStep().get("dp") > 0,
        clean.wireBytesPerStep().toString());
    Map<String, Object> threads = new HashMap<>();
    threads.put("data", clean.run().toAbsolutePath() + "-shards");
    TrainConfig t = TrainConfigs.with(config(tmp.resolve("threads")), threads);
    TrainRun.start(t);
    List<String> a = Files.readAllLines(clean.run().resolve("metrics.csv"));
    List<String> b = Files.readAllLines(tmp.resolve("threads").resolve("metrics.csv"));
    assertEquals(a.size(), b.size());
    for (int i = 1; i < a.size(); i++) {
      String[] x = a.get(i).split(",", -1);
      String[] y = b.get(i).split(",", -1);
      double lx = Double.parseDouble(x[1]);
      double ly = Double.parseDouble(y[1]);
      assertEquals(lx, ly, 1e-5 * lx, "dp2xtp2 barrier tasks vs threads, loss of step " + i);
    }
  }

  @Test
  void aTaskThatFailsOnceIsReplacedFromTheLastCheckpoint() throws Exception {
    System.setProperty(Faults.PROPERTY, Faults.AT_STEP + ":6");
    TesseraTrainer.Trained r;
    try {
      r = new TesseraTrainer(config(tmp.resolve("failed-once"))).setShards(3).fit(docs);
    } finally {
      System.clearProperty(Faults.PROPERTY);
    }
    assertEquals(1, r.recoveries().size(), r.recoveries().toString());
    assertEquals(4, r.recoveries().get(0).fromStep(), "restarted from the checkpoint of step 4");
    Map<String, Safetensors.Entry> want = Checkpoints.wholeTensors(Checkpoints.verify(clean.checkpoint()), true);
    Map<String, Safetensors.Entry> got = Checkpoints.wholeTensors(Checkpoints.verify(r.checkpoint()), true);
    for (String name : want.keySet()) {
      org.junit.jupiter.api.Assertions.assertArrayEquals(want.get(name).data(), got.get(name).data(), name);
    }
  }

  @Test
  void dynamicAllocationAndTooFewSlotsAreRefusedUpFront() {
    SparkConf dyn = new SparkConf().set("spark.dynamicAllocation.enabled", "true");
    String e = assertThrows(IllegalArgumentException.class, () -> TesseraTrainer.check(dyn, 4, 8)).getMessage();
    assertTrue(e.contains("spark.dynamicAllocation.enabled=false"), e);
    String slots = assertThrows(IllegalArgumentException.class, () -> TesseraTrainer.check(new SparkConf(), 8, 4))
        .getMessage();
    assertTrue(slots.contains("8 workers") && slots.contains("4 task slots"), slots);
  }
}
