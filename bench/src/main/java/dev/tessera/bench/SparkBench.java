package dev.tessera.bench;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.jobs.ShardCorpus;
import dev.tessera.jobs.TesseraTrainer;
import dev.tessera.worker.TrainConfigs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run spark}: Spark in local mode in this JVM. Sharding throughput: Tiny Shakespeare
 * copied into --copies text files (and the same as JSON lines) sharded by {@code ShardCorpus}, in MB of
 * text per second. Job start-up: the same small dp2 run trained by a Spark barrier job and by
 * {@code tessera launch} side by side, each timed from the call to its first step done.
 */
@Command(name = "spark", mixinStandardHelpOptions = true,
    description = "Spark sharding throughput (MB/s of text to tokens) and barrier-job start-up against tessera launch.")
final class SparkBench implements Callable<Integer> {
  @Option(names = "--data", defaultValue = "../shared/data/tinyshakespeare.txt",
      description = "Tiny Shakespeare (default: ${DEFAULT-VALUE}).")
  Path data;

  @Option(names = "--copies", defaultValue = "16", description = "Text files of it to shard (default: "
      + "${DEFAULT-VALUE}).")
  int copies;

  @Option(names = "--master", defaultValue = "local[2]", description = "Spark master (default: ${DEFAULT-VALUE}).")
  String master;

  @Option(names = "--out", defaultValue = "target/bench/spark-runs", description = "Where the shards and runs go, "
      + "replaced if they exist (default: ${DEFAULT-VALUE}).")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (!Files.isRegularFile(data)) {
      System.err.println("spark: " + data + " not found (run from the repository root, or pass --data)");
      return 2;
    }
    Probes.deleteRun(out);
    Path corpus = out.resolve("corpus");
    Files.createDirectories(corpus);
    String text = Files.readString(data, StandardCharsets.UTF_8);
    StringBuilder jsonl = new StringBuilder();
    for (int i = 0; i < copies; i++) {
      Files.writeString(corpus.resolve(String.format(Locale.ROOT, "copy-%03d.txt", i)), text, StandardCharsets.UTF_8);
    }
    for (String para : text.split("\n\n")) {
      jsonl.append("{\"text\": ").append(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(para))
          .append("}\n");
    }
    Path json = out.resolve("corpus.jsonl");
    Files.writeString(json, jsonl.toString().repeat(copies), StandardCharsets.UTF_8);
    BenchLine line = new BenchLine("spark").put("master", master).put("cores", Runtime.getRuntime()
        .availableProcessors());

    long t0 = System.nanoTime();
    SparkSession spark = SparkSession.builder().master(master).appName("bench spark")
        .config("spark.ui.enabled", "false").getOrCreate();
    line.put("session_start_s", (System.nanoTime() - t0) / 1e9);
    try {
      ShardCorpus.Result warm = ShardCorpus.run(spark, List.of(corpus.resolve("copy-000.txt").toString()),
          out.resolve("warm").toString(), new ShardCorpus.Options(ShardCorpus.Format.TEXT, null, "char", 0.1, 2, "\n"));
      System.out.printf(Locale.ROOT, "warm-up: %.1f s%n", warm.seconds());
      ShardCorpus.Result t = ShardCorpus.run(spark, List.of(corpus.toString()), out.resolve("text-shards").toString(),
          new ShardCorpus.Options(ShardCorpus.Format.TEXT, null, "char", 0.1, 8, "\n"));
      ShardCorpus.Result j = ShardCorpus.run(spark, List.of(json.toString()), out.resolve("json-shards").toString(),
          new ShardCorpus.Options(ShardCorpus.Format.JSON, "text", "char", 0.1, 8, "\n"));
      for (var e : Map.of("text", t, "json", j).entrySet()) {
        double mbs = e.getValue().textBytes() / 1e6 / e.getValue().seconds();
        System.out.printf(Locale.ROOT, "%s: %.1f MB of text in %.1f s: %.1f MB/s%n", e.getKey(),
            e.getValue().textBytes() / 1e6, e.getValue().seconds(), mbs);
        line.put(e.getKey() + "_mb", e.getValue().textBytes() / 1e6).put(e.getKey() + "_shard_mbs", mbs);
      }

      Map<String, Object> o = new HashMap<>();
      o.put("steps", 5);
      o.put("n-layer", 1);
      o.put("n-embd", 32);
      o.put("n-head", 2);
      o.put("block-size", 32);
      o.put("batch-size", 8);
      o.put("eval-every", 0);
      o.put("eval-batches", 2);
      o.put("device", "cpu");
      o.put("dp", 2);
      o.put("data", out.resolve("warm").toString());
      o.put("out", out.resolve("spark-run").toString());
      TesseraTrainer.Trained s = new TesseraTrainer(TrainConfigs.resolve(null, o)).fit(spark,
          out.resolve("warm").toString());
      double sparkFirst = s.firstStepSeconds();
      o.put("out", out.resolve("launch-run").toString());
      TrainRun.Result l = TrainRun.start(TrainConfigs.resolve(null, o), new LaunchRun.Options(2, false, "127.0.0.1",
          "512m", 0, Duration.ofSeconds(300), Duration.ofSeconds(8), Duration.ofSeconds(120), null));
      double launchFirst = l.launch().firstStepSeconds();
      System.out.printf(Locale.ROOT, "first step after the call: Spark barrier job %.1f s, tessera launch %.1f s%n",
          sparkFirst, launchFirst);
      line.put("barrier_first_step_s", sparkFirst).put("launch_first_step_s", launchFirst)
          .put("barrier_vs_launch", sparkFirst / launchFirst);
    } finally {
      spark.stop();
    }
    line.emit();
    return 0;
  }
}
