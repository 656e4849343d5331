package dev.tessera.coordinator.cli;

import dev.tessera.coordinator.run.LaunchRun;
import dev.tessera.coordinator.run.TrainRun;
import dev.tessera.model.train.TrainingDivergedException;
import dev.tessera.worker.TrainConfigs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tessera launch}: the same training run as {@code tessera train}, with the workers as
 * processes on this machine. This process is the coordinator: it plans the layout, starts the
 * worker JVMs (each an embedded Hazelcast member of a cluster with its own name and secret),
 * drives the steps, records the run, and restarts lost workers from the last good checkpoint.
 * Ctrl-C stops at the next step with a checkpoint.
 */
@Command(name = "launch", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Trains like train, with the workers as separate processes (JVMs) on this machine, over "
        + "Hazelcast on the --bind interface. Without --dp/--tp (or with --auto) the planner chooses the layout and "
        + "prints its reasoning. A worker that dies is noticed within seconds; every worker is restarted from the "
        + "newest good checkpoint and the run goes on. Ctrl-C checkpoints and stops; --resume DIR continues, on any "
        + "layout. Defaults are shown as (default: ...)."})
final class LaunchCommand implements Callable<Integer> {
  private static final Set<String> NOT_CONFIG = Set.of("--config", "--resume", "--help", "--version", "--workers",
      "--auto", "--bind", "--worker-heap", "--max-restarts", "--step-timeout", "--heartbeat-timeout",
      "--join-timeout");

  @Spec
  CommandSpec spec;

  @Option(names = "--workers", paramLabel = "N", description = "Worker processes (default: dp x tp of the layout; "
      + "with --resume, the run's).")
  Integer workers;

  @Option(names = "--auto", description = "Let the planner choose dp and tp for the workers: the fastest predicted "
      + "layout that fits a worker's memory (the default when neither --dp nor --tp is given).")
  boolean auto;

  @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Interface the coordinator and the workers "
      + "listen on (default: ${DEFAULT-VALUE}, this machine only).")
  String bind;

  @Option(names = "--worker-heap", paramLabel = "SIZE", description = "Each worker JVM's heap, e.g. 2g; the "
      + "planner's memory budget per worker (default: three quarters of this machine's memory shared out).")
  String workerHeap;

  @Option(names = "--max-restarts", defaultValue = "3", description = "Times lost workers are replaced before the "
      + "run gives up (default: ${DEFAULT-VALUE}).")
  int maxRestarts;

  @Option(names = "--step-timeout", paramLabel = "SECONDS", defaultValue = "600", description = "A step (or a "
      + "worker's start-up) that takes longer is taken for hung, and the workers restarted (default: "
      + "${DEFAULT-VALUE}).")
  int stepTimeout;

  @Option(names = "--heartbeat-timeout", paramLabel = "SECONDS", defaultValue = "8", description = "How long a "
      + "silent member stays in the cluster (default: ${DEFAULT-VALUE}).")
  int heartbeat;

  @Option(names = "--join-timeout", paramLabel = "SECONDS", defaultValue = "120", description = "How long the "
      + "workers may take to start and join (default: ${DEFAULT-VALUE}).")
  int joinTimeout;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML file of config keys (the options below).")
  Path config;

  @Option(names = "--resume", paramLabel = "DIR", description = "Continue the run in DIR from its newest good "
      + "checkpoint (of any layout); as with train, only --steps, --eval-every, --checkpoint-every, --log-every, "
      + "--device and the layout may be given with it.")
  Path resume;

  @Mixin
  ConfigOptions options;

  @Override
  public Integer call() throws InterruptedException {
    Map<String, Object> given = new java.util.LinkedHashMap<>(ConfigOptions.given(spec, NOT_CONFIG));
    if (workers != null && workers < 1) {
      throw new IllegalArgumentException("--workers must be at least 1, got " + workers);
    }
    check(heartbeat >= 2 && heartbeat <= 60, "--heartbeat-timeout must be 2 to 60 seconds, got " + heartbeat);
    check(stepTimeout >= 1 && joinTimeout >= 1, "--step-timeout and --join-timeout must be positive");
    check(maxRestarts >= 0, "--max-restarts must not be negative, got " + maxRestarts);
    inferLayout(given);
    int n = workers == null ? 0 : workers;
    LaunchRun.Stop stop = new LaunchRun.Stop();
    LaunchRun.Options o = new LaunchRun.Options(n, auto, bind, workerHeap, maxRestarts, Duration.ofSeconds(stepTimeout),
        Duration.ofSeconds(heartbeat), Duration.ofSeconds(joinTimeout), stop);
    Thread hook = new Thread(() -> {
      spec.commandLine().getErr().println("tessera: stopping after this step (checkpoint first); Ctrl-C again "
          + "does not hurry it");
      stop.request();
      try {
        if (!stop.awaitFinished(Duration.ofSeconds(stepTimeout + 60L))) {
          spec.commandLine().getErr().println("tessera: the run did not stop in time; its workers are killed");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "tessera-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      TrainRun.Result r;
      if (resume != null) {
        if (config != null) {
          throw new IllegalArgumentException("--config cannot be combined with --resume (the run keeps its config)");
        }
        r = TrainRun.resume(resume, given, o);
      } else {
        r = TrainRun.start(TrainConfigs.resolve(config, given), o);
      }
      LaunchRun.Stats s = r.launch();
      if (s.stoppedAt() >= 0) {
        spec.commandLine().getOut().printf(Locale.ROOT, "run %s: stopped at step %d of %d%s%n", r.dir(), s.stoppedAt(),
            r.steps(), s.stoppedAt() == 0 ? " (nothing trained, nothing to resume)"
                : "; continue with: tessera launch --resume " + r.dir());
        return 130;
      }
      spec.commandLine().getOut().printf(Locale.ROOT, "run %s: %d steps, validation loss %.4f, %,.0f tokens/s, "
          + "%d worker restart(s)%n", r.dir(), r.steps(), r.valLoss(), r.tokensPerS(), s.recoveries().size());
      return 0;
    } catch (TrainingDivergedException e) {
      spec.commandLine().getErr().println("tessera: training stopped: " + e.getMessage());
      return 1;
    } catch (IllegalStateException e) {
      // A worker's failure that a restart cannot cure, or the restarts used up: the message says which.
      spec.commandLine().getErr().println("tessera: the launch failed: " + e.getMessage());
      return 1;
    } finally {
      spec.commandLine().getOut().flush();
      stop.finished(); // a running hook (Ctrl-C) lets the JVM exit now
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the hook is running; the JVM exits once it returns.
      }
    }
  }

  /**
   * Without a layout, the planner chooses; with one of dp and tp, the other is what the workers
   * leave (--workers 4 --tp 2 means dp=2).
   */
  private void inferLayout(Map<String, Object> given) {
    boolean dp = given.containsKey("dp");
    boolean tp = given.containsKey("tp");
    if (auto && (dp || tp)) {
      throw new IllegalArgumentException("--auto chooses dp and tp; give it without --dp and --tp");
    }
    if (workers == null) {
      return; // the layout says how many workers (a resumed run keeps its own unless told)
    }
    if (!dp && !tp) {
      auto = true;
    } else if (dp != tp) {
      String known = dp ? "dp" : "tp";
      int k = (Integer) given.get(known);
      if (k < 1 || workers % k != 0) {
        throw new IllegalArgumentException("--" + known + " " + k + " does not divide --workers " + workers);
      }
      given.put(dp ? "tp" : "dp", workers / k);
    }
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }
}
