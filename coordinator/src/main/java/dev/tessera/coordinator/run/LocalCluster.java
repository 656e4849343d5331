package dev.tessera.coordinator.run;

import dev.tessera.comm.Group;
import dev.tessera.kernels.opencl.SignalChaining;
import dev.tessera.worker.Faults;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.WorkerMain;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Worker JVMs on this machine, one per rank, forked by {@code tessera launch}: each runs
 * {@link WorkerMain} with this process's class path and module options, its heap, the job's
 * secret in its environment, and its output appended to {@code workers/rank-R.log} of the run.
 * Every worker watches this process and exits when it is gone, so none outlives the coordinator.
 */
final class LocalCluster implements Launcher.Workers {
  /** Forks the attempt's workers on this machine. */
  static final Launcher LAUNCHER = LocalCluster::start;

  private static final Logger LOG = LogManager.getLogger(LocalCluster.class);

  private final List<Process> processes;
  private final List<Path> logs;

  private LocalCluster(List<Process> processes, List<Path> logs) {
    this.processes = processes;
    this.logs = logs;
  }

  /** Starts one worker JVM per rank, each listening on a free port of --bind, the coordinator last in their lists. */
  static LocalCluster start(Launcher.Attempt a) {
    LaunchRun.Options o = a.options();
    List<String> members = new ArrayList<>();
    for (int port : Ports.free(o.bind(), a.workers())) {
      members.add(o.bind() + ":" + port);
    }
    members.add(a.coordinator());
    if (a.codecThreads() > 0 && a.number() == 1 && !codecThreadsGiven()) {
      LOG.info("codec threads: {} a worker ({} cores shared by {} workers; -D{}=N sets them)", a.codecThreads(),
          Runtime.getRuntime().availableProcessors(), a.workers(), Group.CODEC_THREADS_PROPERTY);
    }
    List<Process> ps = new ArrayList<>();
    List<Path> logs = new ArrayList<>();
    LocalCluster c = new LocalCluster(ps, logs);
    try {
      Files.createDirectories(a.logDir());
      for (int r = 0; r < a.workers(); r++) {
        Path log = a.logDir().resolve("rank-" + r + ".log");
        Files.writeString(log, "---- attempt " + a.number() + ", cluster " + a.cluster() + "\n",
            StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        ProcessBuilder pb = new ProcessBuilder(command(r, a.cluster(), members, o, a.codecThreads()))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put(WorkerMain.SECRET_ENV, a.secret());
        String preload = SignalChaining.preload(pb.environment().get("LD_PRELOAD")); // see SignalChaining
        if (preload != null) {
          pb.environment().put("LD_PRELOAD", preload);
        }
        pb.environment().remove(Faults.ENV);
        if (a.fault() != null) {
          pb.environment().put(Faults.ENV, a.fault());
        }
        ps.add(pb.start());
        logs.add(log);
      }
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw new IllegalStateException("cannot start the worker JVMs: " + e.getMessage(), e);
    }
  }

  /**
   * A worker's command line (package-private for its test); the last member is the coordinator.
   * {@code codecThreads} above 0 sizes its codec pool, unless this JVM was given one to pass on.
   */
  static List<String> command(int rank, String cluster, List<String> members, LaunchRun.Options o,
      int codecThreads) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx" + o.heap(members.size() - 1));
    // The module opens and logging setup this JVM was started with (bin/jvm-options), and its
    // -Dtessera.* and -Dhazelcast.* settings (JAVA_OPTS), which the workers read; not a fault to inject,
    // which goes to the first attempt only (start).
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-") || a.startsWith("--enable-native-access=") || a.startsWith("-Djava.util.logging.manager=") || a.startsWith("-Dlog4j2.")
          || (a.startsWith("-Dtessera.") && !a.startsWith("-D" + Faults.PROPERTY + "="))
          || a.startsWith("-Dhazelcast.")) {
        cmd.add(a);
      }
    }
    if (codecThreads > 0 && !codecThreadsGiven()) {
      cmd.add("-D" + Group.CODEC_THREADS_PROPERTY + "=" + codecThreads);
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), WorkerMain.class.getName(),
        "--cluster", cluster, "--rank", Integer.toString(rank), "--members", String.join(",", members),
        "--bind", o.bind(), "--heartbeat-timeout", Long.toString(o.heartbeat().toSeconds()),
        "--join-timeout", Long.toString(o.joinTimeout().toSeconds()),
        "--coordinator-pid", Long.toString(ProcessHandle.current().pid())));
    return cmd;
  }

  /** Whether this JVM was given codec threads to pass on to its workers (JAVA_OPTS). */
  private static boolean codecThreadsGiven() {
    return ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .anyMatch(a -> a.startsWith("-D" + Group.CODEC_THREADS_PROPERTY + "="));
  }

  /**
   * Codec threads for each worker of {@code cfg} on this host, or 0 (each JVM's default): a share of
   * the cores ({@link Group#sharedCodecThreads}) where every sum is exact. On the 16-core H200 host,
   * exact all-reduces of 1-64 MiB among 8 processes with 2 threads each took 1.0-1.36x less time than
   * with 15; among 4 with 4, 1.07-1.25x less at 16-64 MiB; among 2 with 8, the same within noise.
   * Lossy dp codecs keep the default: encoding is CPU work, and 2 processes with 7 threads each ran
   * bf16 sums at 0.68-0.88x of 15 each (docs/comm.md).
   */
  static int codecThreads(TrainConfig cfg, int cores) {
    return cfg.dp() > 1 && !cfg.dpCodec().equals("fp32") ? 0 : Group.sharedCodecThreads(cores, cfg.workers());
  }

  @Override
  public List<Long> pids() {
    return processes.stream().map(Process::pid).toList();
  }

  /** The first worker that has exited, described ("rank 1 (pid 4242) exited with code 137 (SIGKILL)"). */
  @Override
  public Optional<String> firstExit() {
    for (int r = 0; r < processes.size(); r++) {
      if (!processes.get(r).isAlive()) {
        return firstExit(r);
      }
    }
    return Optional.empty();
  }

  private Optional<String> firstExit(int r) {
    Process p = processes.get(r);
    int code = p.exitValue();
    return Optional.of("rank " + r + " (pid " + p.pid() + ") exited with code " + code
        + (code == 137 ? " (SIGKILL)" : code > 128 ? " (signal " + (code - 128) + ")" : "") + "; its log: "
        + logs.get(r));
  }

  /** The first worker killed by a signal (SIGKILL, a crash), waiting up to {@code wait} for one. */
  @Override
  public Optional<String> firstSignalled(java.time.Duration wait) {
    return waitFor(() -> {
      for (int r = 0; r < processes.size(); r++) {
        if (!processes.get(r).isAlive() && processes.get(r).exitValue() > 128) {
          return firstExit(r);
        }
      }
      return Optional.empty();
    }, wait);
  }

  private static Optional<String> waitFor(java.util.function.Supplier<Optional<String>> probe,
      java.time.Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    Optional<String> found = probe.get();
    while (found.isEmpty() && System.nanoTime() < deadline) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      found = probe.get();
    }
    return found;
  }

  /** Whether rank {@code r}'s process is running. */
  @Override
  public boolean alive(int r) {
    return processes.get(r).isAlive();
  }

  /** The last lines of rank {@code r}'s log, for an error message. */
  @Override
  public String tail(int r, int lines) {
    try {
      List<String> all = Files.readAllLines(logs.get(r), StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException | UncheckedIOException e) {
      return "(log unreadable: " + e.getMessage() + ")";
    }
  }

  /** Waits up to {@code seconds} for every worker to exit by itself; true if they all did. */
  @Override
  public boolean awaitExit(long seconds) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    for (Process p : processes) {
      try {
        if (!p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          return false;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  /** Kills every worker still running (SIGKILL) and waits for them to be gone. */
  @Override
  public void close() {
    for (Process p : processes) {
      p.destroyForcibly();
    }
    for (Process p : processes) {
      try {
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
          LOG.warn("worker pid {} did not die within 10 s of SIGKILL", p.pid());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
