package dev.tessera.coordinator.run;

import dev.tessera.comm.CommException;
import dev.tessera.comm.HazelcastTransport;
import dev.tessera.model.train.TrainingDivergedException;
import dev.tessera.worker.Control;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * One attempt of a launched run: its worker JVMs and the coordinator's member of their cluster,
 * which has a name and a secret of its own (a member of an earlier attempt, or of another job, is
 * refused). Every wait polls the workers' processes and the cluster's membership, so a dead
 * worker is noticed within a poll ({@value #POLL_MS} ms) of its exit, or once the cluster drops a
 * silent member (the heartbeat timeout); it is then a {@link WorkerLost}.
 */
final class ClusterAttempt implements AutoCloseable {
  private static final Logger LOG = LogManager.getLogger(ClusterAttempt.class);
  static final int POLL_MS = 50;
  private static final Duration SEND = Duration.ofSeconds(30);
  /** How long a killed worker's process may take to be seen gone, so that a loss names its real cause. */
  private static final Duration SIGNAL_WAIT = Duration.ofMillis(300);

  /** A worker went away or cannot reach its peers: a restart from a checkpoint may cure it. */
  static final class WorkerLost extends RuntimeException {
    private final long noticedAt = System.nanoTime();
    private final long noticedAtEpochMs = System.currentTimeMillis();

    WorkerLost(String message, Throwable cause) {
      super(message, cause);
    }

    long noticedAt() {
      return noticedAt;
    }

    long noticedAtEpochMs() {
      return noticedAtEpochMs;
    }
  }

  private final int n;
  private final Launcher.Workers cluster;
  private final HazelcastTransport transport;
  private final Duration stepTimeout;

  private ClusterAttempt(int n, Launcher.Workers cluster, HazelcastTransport transport, Duration stepTimeout) {
    this.n = n;
    this.cluster = cluster;
    this.transport = transport;
    this.stepTimeout = stepTimeout;
  }

  /** Whether a member could not start because its port was in use. */
  private static boolean portTaken(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof java.net.BindException) {
        return true;
      }
    }
    return false;
  }

  /**
   * Starts the coordinator's member of a new cluster, then the workers (through {@code launcher}), and
   * waits until they have all joined (failing fast if one of them dies on the way).
   */
  static ClusterAttempt start(Path run, int n, int attempt, LaunchRun.Options o, String fault, int codecThreads) {
    byte[] id = new byte[6];
    byte[] key = new byte[32];
    SecureRandom random = new SecureRandom();
    random.nextBytes(id);
    random.nextBytes(key);
    String name = "tessera-" + HexFormat.of().formatHex(id) + "-attempt-" + attempt;
    String secret = HexFormat.of().formatHex(key);
    // The coordinator's member first, alone: every worker's list names it, so they all join its cluster.
    // A port found free can be taken before the member binds it: then another port, a few times.
    HazelcastTransport t = null;
    String me = null;
    for (int tries = 1; t == null; tries++) {
      int port = Ports.free(o.bind(), 1).get(0);
      me = o.bind() + ":" + port;
      try {
        t = HazelcastTransport.open(new HazelcastTransport.Settings(name, n, n + 1, o.bind(), port,
            new HazelcastTransport.Join.TcpIp(List.of(me)), o.heartbeat(), secret));
      } catch (CommException e) {
        if (tries >= 3 || !portTaken(e)) {
          throw e;
        }
        LOG.warn("attempt {}: port {} was taken before the coordinator's member could bind it; another", attempt,
            port);
      }
    }
    LOG.info("attempt {}: cluster '{}', {} workers and the coordinator ({})", attempt, name, n, me);
    Launcher.Workers workers = null;
    try {
      Launcher launcher = o.launcher() == null ? LocalCluster.LAUNCHER : o.launcher();
      workers = launcher.start(new Launcher.Attempt(attempt, name, secret, me, n, run.resolve("workers"), fault, o,
          codecThreads));
      Launcher.Workers w = workers;
      t.awaitRanks(o.joinTimeout(), () -> checkProcesses(w));
      LOG.info("attempt {}: every worker joined", attempt);
      return new ClusterAttempt(n, workers, t, o.stepTimeout());
    } catch (CommException.Timeout e) { // awaitRanks has left the cluster already
      String tail = workers == null ? "" : "; rank 0's log ends:\n" + workers.tail(0, 15);
      if (workers != null) {
        workers.close();
      }
      throw new IllegalStateException("the workers of attempt " + attempt + " did not join within "
          + o.joinTimeout().toSeconds() + " s (--join-timeout): " + e.getMessage() + tail, e);
    } catch (RuntimeException | Error e) {
      if (workers != null) {
        workers.close();
      }
      t.close();
      throw e;
    }
  }

  private static void checkProcesses(Launcher.Workers workers) {
    workers.firstExit().ifPresent(why -> {
      throw new WorkerLost(why, null);
    });
  }

  List<Long> pids() {
    return cluster.pids();
  }

  /** Any worker gone, by its process or by the cluster's membership? */
  private void check() {
    boolean lost = false;
    for (int r = 0; r < n; r++) {
      lost |= transport.isLost(r);
    }
    if (lost || cluster.firstExit().isPresent()) {
      throw new WorkerLost(cause("a worker left the cluster"), null);
    }
  }

  /**
   * The best account of a loss, whoever reported it: a member gone from the cluster whose process
   * runs (hung or cut off), else a worker killed by a signal, else one that exited (often the echo:
   * a worker whose peer vanished fails and exits), else {@code fallback}.
   */
  private String cause(String fallback) {
    for (int r = 0; r < n; r++) {
      if (transport.isLost(r) && cluster.alive(r)) {
        String pid = cluster.pids().isEmpty() ? "" : " (pid " + cluster.pids().get(r) + ")";
        return "rank " + r + pid + " left the cluster though its process runs: silent for the heartbeat timeout "
            + "(hung, stopped or cut off)";
      }
    }
    return cluster.firstSignalled(SIGNAL_WAIT).or(cluster::firstExit).orElse(fallback);
  }

  /** Sends every worker its plan and waits until each has built its shard. */
  Control.Ready[] ready(Control.Plan plan) {
    Control.Ready[] ready = new Control.Ready[n];
    for (int r = 0; r < n; r++) {
      int rank = r;
      guard(() -> Control.sendPlan(transport, rank, plan, SEND));
    }
    long deadline = System.nanoTime() + stepTimeout.toNanos();
    for (int r = 0; r < n; r++) {
      ready[r] = (Control.Ready) await(r, "its shard built", deadline, rank -> Control.pollReady(transport, rank,
          Duration.ofMillis(POLL_MS)));
    }
    return ready;
  }

  /** Trains step {@code s} on every worker; returns their reports in rank order. */
  List<Control.StepDone> step(int s) {
    for (int r = 0; r < n; r++) {
      int rank = r;
      guard(() -> Control.sendGo(transport, rank, new Control.Go(s, false, false), SEND));
    }
    return collect(s, "step " + s);
  }

  private List<Control.StepDone> collect(int s, String what) {
    long deadline = System.nanoTime() + stepTimeout.toNanos();
    List<Control.StepDone> out = new ArrayList<>();
    for (int r = 0; r < n; r++) {
      out.add((Control.StepDone) await(r, what, deadline, rank -> Control.pollDone(transport, rank, s,
          Duration.ofMillis(POLL_MS))));
    }
    return out;
  }

  /**
   * Tells every worker to stop after {@code s} steps (rank 0 checkpointing first if asked) and waits
   * for their processes to end; returns the checkpoint written, or null.
   */
  Path stop(int s, boolean checkpoint) {
    for (int r = 0; r < n; r++) {
      int rank = r;
      guard(() -> Control.sendGo(transport, rank, new Control.Go(s, true, checkpoint), SEND));
    }
    Control.StepDone zero = collect(s, "the stop after step " + s).get(0);
    // This member (the first, so the cluster's master) stays until the workers are gone: members that
    // leave at once while the master leaves too trade warnings about a new master and dead peers.
    transport.leaving();
    // Every worker has answered its last step and leaves now. Where one's process ends before this
    // master has processed its leaving, the master's reconnects are refused, and after five it warns
    // "Removing connection to endpoint ..." (seen in 1 run of 3 on the 2-core machine): expected at
    // this point, so that one logger says only errors until this member has left.
    String refused = "com.hazelcast.internal.server.tcp.TcpServerConnectionErrorHandler";
    org.apache.logging.log4j.Level before = LogManager.getLogger(refused).getLevel();
    org.apache.logging.log4j.core.config.Configurator.setLevel(refused, org.apache.logging.log4j.Level.ERROR);
    try {
      if (!cluster.awaitExit(30)) {
        LOG.warn("workers still running 30 s after they were told to stop; killing them");
      }
      transport.close();
    } finally {
      org.apache.logging.log4j.core.config.Configurator.setLevel(refused, before);
    }
    return zero.checkpoint().isEmpty() ? null : Path.of(zero.checkpoint());
  }

  private interface Poll {
    Object poll(int rank);
  }

  /** Polls rank {@code r} until its answer comes, a worker is lost, or the deadline passes. */
  private Object await(int r, String what, long deadline, Poll poll) {
    while (true) {
      Object m = guard(() -> poll.poll(r));
      if (m instanceof Control.Failed f) {
        throw failed(f);
      }
      if (m != null) {
        return m;
      }
      check();
      if (System.nanoTime() > deadline) {
        throw new WorkerLost("rank " + r + " did not finish " + what + " within " + stepTimeout.toSeconds()
            + " s (--step-timeout); taken for hung", null);
      }
    }
  }

  /** A worker's own report of its failure: restartable if it lost its peers, final otherwise. */
  private RuntimeException failed(Control.Failed f) {
    String where = "rank " + f.rank() + ": " + f.message() + " (log: " + "workers/rank-" + f.rank() + ".log)";
    return switch (f.kind()) {
      case Control.COMM -> {
        // The echo of another worker's loss: name that one if a signal killed it; else the report
        // names the peer it lost (a hung worker's process lives on).
        yield new WorkerLost(cause(where), null);
      }
      case Control.DIVERGED -> new TrainingDivergedException(where);
      default -> new IllegalStateException("worker failed: " + where);
    };
  }

  private <T> T guard(java.util.function.Supplier<T> op) {
    try {
      return op.get();
    } catch (CommException e) {
      throw new WorkerLost(cause(e.getMessage()), e);
    }
  }

  private void guard(Runnable op) {
    guard(() -> {
      op.run();
      return null;
    });
  }

  /** Kills whatever workers are left and leaves the cluster. */
  @Override
  public void close() {
    cluster.close();
    transport.close(); // again after a stop: a no-op
  }
}
