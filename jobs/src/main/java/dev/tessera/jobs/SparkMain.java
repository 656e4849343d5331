package dev.tessera.jobs;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code spark-submit} entry point of {@code tessera-spark.jar}:
 * {@code spark-submit --class dev.tessera.jobs.SparkMain tessera-spark.jar shard --input PATH --out PATH}.
 * Each subcommand gets its SparkSession from spark-submit (master, resources) and ends it.
 */
@Command(name = "tessera-spark", mixinStandardHelpOptions = true, subcommands = {SparkMain.Shard.class, SparkMain.Train.class},
    description = "Tessera's Spark jobs (run with spark-submit --class dev.tessera.jobs.SparkMain).")
public final class SparkMain implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    CommandLine cl = new CommandLine(new SparkMain());
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      if (e instanceof IllegalArgumentException) {
        line.getErr().println("tessera-spark: " + e.getMessage());
        return 2;
      }
      throw e;
    });
    System.exit(cl.execute(args));
  }

  /** {@code shard}: text, JSON lines or Parquet to token shards ({@link ShardCorpus}). */
  @Command(name = "shard", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Reads a corpus from any Hadoop-supported path, tokenises it in the executors and writes token "
          + "shards with an index (what tessera train/launch --data DIR reads).")
  static final class Shard implements Callable<Integer> {
    @Option(names = "--input", required = true, split = ",", description = "Files or directories (comma-separated).")
    List<String> input;
    @Option(names = "--format", defaultValue = "text", description = "text (each file a document), json (JSON "
        + "lines) or parquet (default: ${DEFAULT-VALUE}).")
    String format;
    @Option(names = "--column", defaultValue = "text", description = "The JSON field or Parquet column holding the "
        + "text (default: ${DEFAULT-VALUE}).")
    String column;
    @Option(names = "--tokenizer", defaultValue = "char", description = "char (vocabulary from the corpus) or byte "
        + "(default: ${DEFAULT-VALUE}).")
    String tokenizer;
    @Option(names = "--val-fraction", defaultValue = "0.1", description = "Share of the tokens held out for "
        + "validation, from the end (default: ${DEFAULT-VALUE}).")
    double valFraction;
    @Option(names = "--shards", defaultValue = "8", description = "Shard files to write, one per partition "
        + "(default: ${DEFAULT-VALUE}).")
    int shards;
    @Option(names = "--separator", defaultValue = "\n", description = "Appended to every JSON or Parquet document "
        + "(default: a newline).")
    String separator;
    @Option(names = "--out", required = true, description = "The output directory (any Hadoop path); it must not "
        + "exist or be empty.")
    String out;

    @Override
    public Integer call() {
      SparkSession spark = SparkSession.builder().appName("tessera shard").getOrCreate();
      try {
        shardInto(spark, input, format, column, tokenizer, valFraction, shards, out);
        return 0;
      } finally {
        spark.stop();
      }
    }

    /** Shards {@code paths} into {@code to} and says what it wrote. */
    void shardInto(SparkSession spark, List<String> paths, String fmt, String col, String tok, double val, int n,
        String to) {
      ShardCorpus.Format f;
      try {
        f = ShardCorpus.Format.valueOf(fmt.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--format: unknown value '" + fmt + "'; expected text, json or parquet", e);
      }
      ShardCorpus.Result r = ShardCorpus.run(spark, paths, to, new ShardCorpus.Options(f, col, tok, val, n,
          separator == null ? "\n" : separator));
      long tokens = r.index().files().stream().mapToLong(dev.tessera.model.data.TokenShards.ShardFile::tokens).sum();
      System.out.printf(Locale.ROOT, "tessera-spark: %s: %d documents, %,d tokens (vocabulary %s) in %d shards, "
          + "%.1f s (%.1f MB/s of text)%n", r.out(), r.index().documents(), tokens, r.index().tokenizer().get(0),
          r.index().files().size(), r.seconds(), r.textBytes() / 1e6 / r.seconds());
    }
  }

  /**
   * {@code train}: trains on token shards (or on a corpus it shards first) in barrier stages, one task
   * per worker, the driver as the coordinator ({@link TesseraTrainer}).
   */
  @Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Trains like tessera launch, with the workers as the tasks of a Spark barrier stage (one per "
          + "worker: dp x tp) and this driver as the coordinator. --data names token shards (tessera-spark shard); "
          + "with --input the corpus is sharded first into <out>-shards. --out must be a directory every executor "
          + "sees. Every option of tessera train is accepted.")
  static final class Train implements Callable<Integer> {
    private static final java.util.Set<String> NOT_CONFIG = java.util.Set.of("--config", "--help", "--version",
        "--input", "--format", "--column", "--shards", "--max-restarts");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;
    @Option(names = "--config", paramLabel = "FILE", description = "YAML file of config keys.")
    java.nio.file.Path config;
    @Option(names = "--input", split = ",", description = "A corpus to shard first (comma-separated paths).")
    List<String> input;
    @Option(names = "--format", defaultValue = "text", description = "text, json or parquet, with --input.")
    String format;
    @Option(names = "--column", defaultValue = "text", description = "The text's column, with --input.")
    String column;
    @Option(names = "--shards", defaultValue = "8", description = "Shard files, with --input (default: "
        + "${DEFAULT-VALUE}).")
    int shards;
    @Option(names = "--max-restarts", defaultValue = "3", description = "Attempts replaced after a failed task "
        + "(default: ${DEFAULT-VALUE}).")
    int maxRestarts;
    @CommandLine.Mixin
    dev.tessera.coordinator.cli.ConfigOptions options;

    @Override
    public Integer call() {
      java.util.Map<String, Object> given = dev.tessera.coordinator.cli.ConfigOptions.given(spec, NOT_CONFIG);
      if (input == null && !given.containsKey("data")) {
        throw new IllegalArgumentException("give --data (token shards) or --input (a corpus to shard first)");
      }
      if (input != null && given.containsKey("data")) {
        throw new IllegalArgumentException("give --data or --input, not both");
      }
      if (!given.containsKey("out")) {
        throw new IllegalArgumentException("give --out: the run directory, on a filesystem every executor sees");
      }
      SparkSession spark = SparkSession.builder().appName("tessera train").getOrCreate();
      try {
        String data;
        if (input != null) {
          data = java.nio.file.Path.of((String) given.get("out")).toAbsolutePath().normalize() + "-shards";
          new Shard().shardInto(spark, input, format, column, (String) given.getOrDefault("tokenizer", "char"),
              (Double) given.getOrDefault("val-fraction", 0.1), shards, data);
          given.put("data", data);
        }
        dev.tessera.worker.TrainConfig cfg = dev.tessera.worker.TrainConfigs.resolve(config, given);
        TesseraTrainer.Trained r = new TesseraTrainer(cfg).setMaxRestarts(maxRestarts).fit(spark, cfg.data());
        System.out.printf(Locale.ROOT, "tessera-spark: run %s: %d steps, validation loss %.4f, %,.0f tokens/s, %d "
            + "restart(s); checkpoint %s%n", r.run(), r.steps(), r.valLoss(), r.tokensPerS(), r.recoveries().size(),
            r.checkpoint());
        return 0;
      } finally {
        spark.stop();
      }
    }
  }
}
