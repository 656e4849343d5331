package dev.tessera.worker;

import dev.tessera.comm.CommException;
import dev.tessera.comm.HazelcastTransport;
import dev.tessera.comm.Transport;
import dev.tessera.model.train.TrainingDivergedException;
import dev.tessera.parallelism.Axis;
import dev.tessera.parallelism.ParallelDims;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A worker process: joins the job's cluster as an embedded Hazelcast member, takes its plan from
 * the coordinator (the transport's last rank), builds its shard, then trains the steps the
 * coordinator asks for and reports each one (see {@link Control}). It exits when told to stop, when
 * the coordinator goes away (its member leaves, or its process is gone), or on a failure, which it
 * reports first. The job's secret comes in the environment ({@value #SECRET_ENV}), never on the
 * command line, where every user of the machine could read it.
 */
@Command(name = "tessera-worker", mixinStandardHelpOptions = true,
    description = "One worker of a Tessera job (started by tessera launch, a Spark task or a Kubernetes pod).")
public final class WorkerMain implements Callable<Integer> {
  public static final String SECRET_ENV = "TESSERA_JOB_SECRET";
  private static final Logger LOG = LogManager.getLogger(WorkerMain.class);

  @Option(names = "--cluster", required = true, description = "The job's cluster name.")
  String cluster;
  @Option(names = "--rank", required = true, description = "This worker's rank (0-based).")
  int rank;
  @Option(names = "--members", required = true, split = ",", description = "host:port of every member in rank "
      + "order, the coordinator last.")
  List<String> members;
  @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Interface to listen on (default: ${DEFAULT-VALUE}).")
  String bind;
  @Option(names = "--heartbeat-timeout", defaultValue = "8", description = "Seconds a silent member stays in the "
      + "cluster (default: ${DEFAULT-VALUE}).")
  int heartbeatSeconds;
  @Option(names = "--join-timeout", defaultValue = "120", description = "Seconds to wait for every member to join "
      + "(default: ${DEFAULT-VALUE}).")
  int joinSeconds;
  @Option(names = "--coordinator-pid", defaultValue = "0", description = "Exit when this process is gone (a local "
      + "launch); 0 = do not watch.")
  long coordinatorPid;

  public static void main(String[] args) {
    int code;
    try {
      code = new CommandLine(new WorkerMain()).execute(args);
    } catch (Throwable e) {
      LOG.error("worker failed", e);
      code = 1;
    }
    LogManager.shutdown();
    // Aparapi and Hazelcast leave non-daemon threads behind; the work is done and reported.
    Runtime.getRuntime().halt(code);
  }

  @Override
  public Integer call() throws Exception {
    ignoreInterrupts();
    watchCoordinator();
    String secret = System.getenv(SECRET_ENV);
    if (secret == null || secret.isBlank()) {
      LOG.warn("no {} in the environment: this job's members are not authenticated", SECRET_ENV);
      secret = null;
    }
    String me = members.get(rank);
    HazelcastTransport.Settings s = new HazelcastTransport.Settings(cluster, rank, members.size(), bind,
        Integer.parseInt(me.substring(me.lastIndexOf(':') + 1)), new HazelcastTransport.Join.TcpIp(members),
        Duration.ofSeconds(heartbeatSeconds), secret);
    LOG.info("rank {} of cluster '{}': joining {} members on {}", rank, cluster, members.size(), bind);
    try (HazelcastTransport t = HazelcastTransport.start(s, Duration.ofSeconds(joinSeconds))) {
      int code = serve(t, members.size() - 1);
      if (code == 0) {
        // The run is over and every worker leaves at once: the members that go last log the others'
        // connections refused and them suspected dead before the master's news of their leaving
        // arrives. Expected here, and this process is about to exit: only Hazelcast's errors now.
        org.apache.logging.log4j.core.config.Configurator.setLevel("com.hazelcast",
            org.apache.logging.log4j.Level.ERROR);
      }
      return code;
    }
  }

  /** Ctrl-C in a terminal reaches every process of the group: the coordinator, not the worker, decides. */
  private static void ignoreInterrupts() {
    try {
      sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> LOG.info("SIGINT ignored: the coordinator "
          + "stops the workers"));
    } catch (IllegalArgumentException e) {
      LOG.debug("cannot handle SIGINT here: {}", e.getMessage());
    }
  }

  private void watchCoordinator() {
    if (coordinatorPid <= 0) {
      return;
    }
    Thread w = new Thread(() -> {
      while (true) {
        if (ProcessHandle.of(coordinatorPid).map(ProcessHandle::isAlive).orElse(false)) {
          try {
            Thread.sleep(500);
          } catch (InterruptedException e) {
            return;
          }
        } else {
          LOG.error("the coordinator (pid {}) is gone; rank {} exits", coordinatorPid, rank);
          LogManager.shutdown();
          Runtime.getRuntime().halt(3);
        }
      }
    }, "coordinator-watch");
    w.setDaemon(true);
    w.start();
  }

  /** Takes the plan, builds the shard and trains until told to stop; the exit status. */
  public static int serve(Transport t, int coordinator) {
    return serve(t, coordinator, null);
  }

  /**
   * As {@link #serve(Transport, int)}, with a {@link Faults} spec of its own ({@code fault}; null for
   * the environment's): a worker that is a thread of a larger JVM (a Spark task) gets it this way.
   */
  public static int serve(Transport t, int coordinator, String fault) {
    return serve(t, coordinator, fault, -1);
  }

  /**
   * As {@link #serve(Transport, int, String)}, on OpenCL device number {@code device} of the
   * requested kind when it is 0 or more, rather than the one the config gives the rank
   * ({@link Shard#build}).
   */
  public static int serve(Transport t, int coordinator, String fault, int device) {
    int rank = t.rank();
    Duration send = Duration.ofSeconds(30);
    int expected = Control.READY;
    int step = 0;
    try {
      Control.Plan plan = (Control.Plan) Control.receive(t, coordinator, Control.PLAN, 0, Duration.ofSeconds(120));
      TrainConfig cfg = TrainConfigs.parse(plan.configYaml());
      Path run = Path.of(plan.runDir());
      Duration stepTimeout = Duration.ofSeconds(plan.stepTimeoutSeconds());
      LOG.info("rank {}: attempt {}, run {}, layout dp={} tp={}", rank, plan.attempt(), run, cfg.dp(), cfg.tp());
      try (Shard shard = Shard.build(cfg, Shard.dataSource(cfg), t, rank, device)) {
        if (!plan.checkpoint().isEmpty()) {
          Checkpoints.restore(Checkpoints.verify(Path.of(plan.checkpoint())), shard.trainer());
          LOG.info("rank {}: restored {} (step {})", rank, plan.checkpoint(), shard.trainer().stepsDone());
        }
        double[] baselines = rank == 0 ? shard.trainer().baselines().orElse(new double[0]) : new double[0];
        Control.send(t, coordinator, Control.READY, 0, new Control.Ready(rank, ProcessHandle.current().pid(),
            shard.backend().describe(), shard.modelParameters(), shard.trainer().stepsDone(), heapUsed(),
            baselines), send);
        expected = Control.DONE;
        WireMeter meter = new WireMeter(t, shard.mesh(), rank);
        while (true) {
          step = shard.trainer().stepsDone();
          Control.Go go = (Control.Go) Control.receive(t, coordinator, Control.GO, step, stepTimeout);
          if (go.stop()) {
            Path ck = go.checkpoint() ? shard.checkpoint(run) : null;
            Control.send(t, coordinator, Control.DONE, step, new Control.StepDone(rank, step, Double.NaN, 0f,
                Double.NaN, 0, 0, Double.NaN, ck == null ? "" : ck.toString(), heapUsed(), shard.backend().peakDeviceBytes(), 0, 0, 0), send);
            LOG.info("rank {}: stopped after {} steps", rank, step);
            t.leaving(); // the other workers leave now too
            return 0;
          }
          Faults.failAt(fault, step);
          Shard.Outcome o = shard.step(run);
          var r = o.result();
          long[] wire = meter.next();
          Control.send(t, coordinator, Control.DONE, step, new Control.StepDone(rank, step, r.loss(), r.lr(),
              r.gradNorm(), r.tokens(), r.seconds(), o.valLoss(), o.checkpoint() == null ? ""
                  : o.checkpoint().toString(), heapUsed(), shard.backend().peakDeviceBytes(), wire[0], wire[1],
                  wire[2] / 1e9), send);
        }
      }
    } catch (Faults.Injected e) {
      LOG.error("rank {}: {}", rank, e.getMessage());
      throw e;
    } catch (Exception | Error e) {
      String kind = e instanceof TrainingDivergedException ? Control.DIVERGED
          : e instanceof CommException ? Control.COMM : Control.ERROR;
      LOG.error("rank {} failed at step {}: {}", rank, step, e.toString(), e);
      try {
        Control.send(t, coordinator, expected, expected == Control.READY ? 0 : step,
            new Control.Failed(rank, kind, e.toString()), Duration.ofSeconds(5));
      } catch (RuntimeException unreported) {
        LOG.warn("rank {} could not report its failure to the coordinator: {}", rank, unreported.toString());
      }
      return 1;
    }
  }

  private static long heapUsed() {
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  /** What this worker sent to its tp and dp groups, and waited for, since the last call. */
  private static final class WireMeter {
    private final Transport t;
    private final int tpGroup;
    private final int dpGroup;
    private long[] last = new long[3];

    WireMeter(Transport t, ParallelDims mesh, int rank) {
      this.t = t;
      this.tpGroup = mesh.groupId(Axis.TP, rank);
      this.dpGroup = mesh.groupId(Axis.DP, rank);
      next();
    }

    /** {tp bytes sent, dp bytes sent, nanoseconds waited on receives} since the last call. */
    long[] next() {
      long[] now = new long[3];
      t.traffic().snapshot().forEach((group, c) -> {
        if (group == tpGroup) {
          now[0] += c.bytesSent();
        } else if (group == dpGroup) {
          now[1] += c.bytesSent();
        }
        if (group != Control.GROUP) {
          now[2] += c.receiveWaitNanos();
        }
      });
      long[] d = {now[0] - last[0], now[1] - last[1], now[2] - last[2]};
      last = now;
      return d;
    }
  }
}
