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
@Command(name = "tessera-spark", mixinStandardHelpOptions = true, subcommands = {SparkMain.Shard.class},
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
      ShardCorpus.Format f;
      try {
        f = ShardCorpus.Format.valueOf(format.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--format: unknown value '" + format + "'; expected text, json or parquet",
            e);
      }
      ShardCorpus.Options o = new ShardCorpus.Options(f, column, tokenizer, valFraction, shards, separator);
      SparkSession spark = SparkSession.builder().appName("tessera shard").getOrCreate();
      try {
        ShardCorpus.Result r = ShardCorpus.run(spark, input, out, o);
        long tokens = r.index().files().stream().mapToLong(dev.tessera.model.data.TokenShards.ShardFile::tokens).sum();
        System.out.printf(Locale.ROOT, "tessera-spark: %s: %d documents, %,d tokens (vocabulary %s) in %d shards, "
            + "%.1f s (%.1f MB/s of text)%n", r.out(), r.index().documents(), tokens,
            r.index().tokenizer().get(0), r.index().files().size(), r.seconds(), r.textBytes() / 1e6 / r.seconds());
        return 0;
      } finally {
        spark.stop();
      }
    }
  }
}
