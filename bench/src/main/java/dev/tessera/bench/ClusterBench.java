package dev.tessera.bench;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.worker.Checkpoints;
import dev.tessera.worker.Shard;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run cluster}: the life cycle of {@code tessera launch} on this machine. Three launches
 * of the same dp run: one uninterrupted (time from the launch to the first step done), one whose
 * rank 1 is killed with SIGKILL mid-run (time until the coordinator notices; time from noticing to
 * the first step of the restarted workers), and one whose rank 1 is frozen with SIGSTOP (a hung
 * worker with a live process: noticed through the cluster's heartbeats alone). Then checkpoint
 * write and read (verify + restore) throughput of a larger model, in MB/s of safetensors.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
    description = "Launch-to-first-step, crash detection and recovery times of tessera launch; checkpoint MB/s.")
final class ClusterBench implements Callable<Integer> {
  @Option(names = "--workers", defaultValue = "2", description = "Worker processes, all data-parallel (default: "
      + "${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--steps", defaultValue = "40", description = "Steps per launch (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--kill-at", defaultValue = "15", description = "Step after which rank 1 is killed or frozen "
      + "(default: ${DEFAULT-VALUE}).")
  int killAt;

  @Option(names = "--device", defaultValue = "cpu", description = "The workers' device (default: ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--heartbeat-timeout", defaultValue = "8", description = "Seconds (default: ${DEFAULT-VALUE}).")
  int heartbeat;

  @Option(names = "--checkpoint-layers", defaultValue = "6", description = "Layers of the checkpointed model, width "
      + "384 (default: ${DEFAULT-VALUE}: ~10.7M parameters).")
  int checkpointLayers;

  @Option(names = "--out", defaultValue = "target/bench/cluster-runs", description = "Where the runs go, replaced if "
      + "they exist (default: ${DEFAULT-VALUE}).")
  Path out;

  private Map<String, Object> config(Path dir) {
    Map<String, Object> o = new HashMap<>();
    o.put("out", dir.toString());
    o.put("steps", steps);
    o.put("n-layer", 2);
    o.put("n-embd", 64);
    o.put("batch-size", 32);
    o.put("eval-every", 0);
    o.put("eval-batches", 2);
    o.put("checkpoint-every", 10);
    o.put("log-every", 10);
    o.put("device", device);
    o.put("dp", workers);
    return o;
  }

  private LaunchRun.Options options() {
    return new LaunchRun.Options(workers, false, "127.0.0.1", "512m", 2, Duration.ofSeconds(120),
        Duration.ofSeconds(heartbeat), Duration.ofSeconds(120), null);
  }

  @Override
  public Integer call() throws Exception {
    if (workers < 2) {
      System.err.println("cluster: --workers must be at least 2 (rank 1 is the one killed)");
      return 2;
    }
    Probes.deleteRun(out);
    Files.createDirectories(out);
    BenchLine line = new BenchLine("cluster").put("workers", workers).put("cores",
        Runtime.getRuntime().availableProcessors()).put("device", device);

    TrainRun.Result clean = TrainRun.start(TrainConfigs.resolve(null, config(out.resolve("clean"))), options());
    line.put("launch_to_first_step_s", clean.launch().firstStepSeconds());
    line.put("ms_per_step", 1e3 * 32 * 64 / clean.tokensPerS());

    for (String signal : List.of("KILL", "STOP")) {
      Path dir = out.resolve(signal.toLowerCase(Locale.ROOT));
      long[] sentAt = new long[1];
      Thread t = new Thread(() -> sendAfter(dir, signal, sentAt));
      t.start();
      TrainRun.Result r = TrainRun.start(TrainConfigs.resolve(null, config(dir)), options());
      t.join(30_000);
      if (r.launch().recoveries().size() != 1) {
        throw new IllegalStateException("SIG" + signal + ": expected one recovery, got " + r.launch().recoveries());
      }
      LaunchRun.Recovery rec = r.launch().recoveries().get(0);
      String key = signal.equals("KILL") ? "sigkill" : "sigstop";
      System.out.printf(Locale.ROOT, "SIG%s of rank 1: noticed after %d ms (%s); training again %.1f s later%n",
          signal, rec.noticedAtEpochMs() - sentAt[0], rec.cause(), rec.seconds());
      line.put(key + "_detect_ms", rec.noticedAtEpochMs() - sentAt[0]);
      line.put(key + "_recovery_s", rec.seconds());
    }
    checkpoints(line);
    line.emit();
    return 0;
  }

  /** Sends SIG{signal} to rank 1 once step {@code killAt} is in the run's metrics. */
  private void sendAfter(Path dir, String signal, long[] sentAt) {
    try {
      Path csv = dir.resolve("metrics.csv");
      long deadline = System.nanoTime() + 300_000_000_000L;
      while (!(Files.exists(csv) && Files.readAllLines(csv).stream().anyMatch(l -> l.startsWith(killAt + ",")))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("step " + killAt + " never came");
        }
        Thread.sleep(10);
      }
      String pid = Files.readAllLines(dir.resolve("workers/attempt-1.pids")).get(1).split(" ")[1];
      sentAt[0] = System.currentTimeMillis();
      new ProcessBuilder("kill", "-" + signal, pid).inheritIO().start().waitFor();
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Checkpoint write and read (hash check + restore) MB/s of a model of --checkpoint-layers x 384. */
  private void checkpoints(BenchLine line) throws IOException {
    Map<String, Object> o = new HashMap<>();
    o.put("n-layer", checkpointLayers);
    o.put("n-embd", 384);
    o.put("n-head", 6);
    o.put("block-size", 256);
    o.put("device", "java");
    TrainConfig cfg = TrainConfigs.resolve(null, o);
    Path run = out.resolve("checkpoint");
    try (Shard shard = Shard.build(cfg, Shard.dataSource(cfg), null, 0)) {
      long t0 = System.nanoTime();
      Path ck = shard.checkpoint(run);
      double write = (System.nanoTime() - t0) / 1e9;
      long bytes = Files.size(ck.resolve(Checkpoints.rankFile(0)));
      t0 = System.nanoTime();
      Checkpoints.restore(Checkpoints.verify(ck), shard.trainer());
      double read = (System.nanoTime() - t0) / 1e9;
      System.out.printf(Locale.ROOT, "checkpoint of %,d parameters: %.1f MB written in %.2f s, verified and read in "
          + "%.2f s%n", shard.modelParameters(), bytes / 1e6, write, read);
      line.put("checkpoint_mb", bytes / 1e6).put("checkpoint_write_mbs", bytes / 1e6 / write)
          .put("checkpoint_read_mbs", bytes / 1e6 / read);
    }
  }
}
