package dev.tessera.jobs;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Training as a Spark job, in the style of Spark ML's estimators: {@code new
 * TesseraTrainer(config).fit(documents)} shards the documents (the first column, a string) into
 * {@code <run>-shards} beside the run directory, then trains on them in barrier stages, one task per worker, with the driver
 * as the coordinator, exactly as {@code tessera launch} does with processes: progress, run
 * directory, checkpoints, report, and a new attempt from the last checkpoint when a task fails. The
 * run directory and the shards must be on a filesystem every executor sees (local mode: this one).
 */
public final class TesseraTrainer {
  private final TrainConfig config;
  private int shards = 8;
  private String separator = "\n";
  private int maxRestarts = 3;
  private Duration stepTimeout = Duration.ofSeconds(600);
  private Duration heartbeat = Duration.ofSeconds(8);
  private Duration joinTimeout = Duration.ofSeconds(120);

  /** A config as {@code tessera train} resolves it; its {@code data} is replaced by the shards, its {@code out} is the run. */
  public TesseraTrainer(TrainConfig config) {
    this.config = config;
  }

  /** Shard files written by {@link #fit(Dataset)} (default 8). */
  public TesseraTrainer setShards(int n) {
    this.shards = n;
    return this;
  }

  /** What follows every document in the token stream (default a newline; "" joins them as they are). */
  public TesseraTrainer setSeparator(String s) {
    this.separator = s;
    return this;
  }

  /** Attempts replaced after a lost worker before the run gives up (default 3). */
  public TesseraTrainer setMaxRestarts(int n) {
    this.maxRestarts = n;
    return this;
  }

  public TesseraTrainer setTimeouts(Duration step, Duration heartbeat, Duration join) {
    this.stepTimeout = step;
    this.heartbeat = heartbeat;
    this.joinTimeout = join;
    return this;
  }

  /**
   * What a fit gives back: the run directory, its newest checkpoint, and how training went
   * (firstStepSeconds: from the start of the training to its first step done).
   */
  public record Trained(Path run, Path checkpoint, int steps, double valLoss, double tokensPerS,
      List<LaunchRun.Recovery> recoveries, Map<String, Double> wireBytesPerStep, double firstStepSeconds) {
  }

  /** Shards {@code documents} (first column) into {@code <run>-shards} and trains on them. */
  public Trained fit(Dataset<Row> documents) {
    check(documents.sparkSession().sparkContext().getConf(), config.workers(),
        documents.sparkSession().sparkContext().defaultParallelism());
    String data = Path.of(config.out()).toAbsolutePath().normalize() + "-shards";
    // Rows of a dataset (the format and column name only matter when ShardCorpus reads paths itself).
    ShardCorpus.run(documents.select(documents.columns()[0]), data, new ShardCorpus.Options(ShardCorpus.Format.JSON,
        null, config.tokenizer(), config.valFraction(), shards, separator), "a Spark dataset");
    return fit(documents.sparkSession(), data);
  }

  /** Trains on token shards already written ({@code tessera-spark shard}). */
  public Trained fit(SparkSession spark, String shardDir) {
    JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    int n = config.workers();
    check(sc.getConf(), n, sc.defaultParallelism());
    TrainConfig cfg = TrainConfigs.with(config, Map.of("data", shardDir));
    String host = driverAddress(sc.getConf());
    long heap = Runtime.getRuntime().maxMemory() / n; // the planner's budget: local mode shares this JVM
    String executorMemory = sc.getConf().get("spark.executor.memory", (heap >> 20) + "m");
    LaunchRun.Options o = new LaunchRun.Options(n, false, host, executorMemory, maxRestarts, stepTimeout, heartbeat,
        joinTimeout, null, new SparkLauncher(sc));
    TrainRun.Result r = TrainRun.start(cfg, o);
    Path ck = Checkpoints.latest(r.dir(), w -> { }).map(Checkpoints.Checkpoint::dir).orElse(null);
    return new Trained(r.dir(), ck, r.steps(), r.valLoss(), r.tokensPerS(), r.launch().recoveries(),
        r.wireBytesPerStep(), r.launch().firstStepSeconds());
  }

  /** Barrier stages refuse dynamic allocation and need a task slot per worker at once: said before, not after. */
  static void check(SparkConf conf, int workers, int slots) {
    if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
      throw new IllegalArgumentException("training runs in a Spark barrier stage, which cannot run with dynamic "
          + "allocation: set spark.dynamicAllocation.enabled=false");
    }
    if (slots < workers) {
      throw new IllegalArgumentException("the layout has " + workers + " workers but this Spark application has "
          + slots + " task slots (spark.default.parallelism: executors x cores); a barrier stage needs one slot per "
          + "worker at once: add executors or cores, or use fewer workers");
    }
  }

  /** The address executors reach the driver on (the coordinator's member listens there). */
  private static String driverAddress(SparkConf conf) {
    String host = conf.get("spark.driver.bindAddress", conf.get("spark.driver.host", "127.0.0.1"));
    try {
      return InetAddress.getByName(host).getHostAddress();
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("cannot resolve the driver's host " + host + ": " + e.getMessage(), e);
    }
  }
}
