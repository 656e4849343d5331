package dev.tessera.coordinator.run;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How the workers of a launch's attempt come to be: forked on this machine ({@link LocalCluster}),
 * or as the tasks of a Spark barrier stage (module jobs). The coordinator's member is running
 * before {@link #start} is called; every worker joins the attempt's cluster through it.
 */
public interface Launcher {
  /**
   * One attempt's settings, for its workers.
   *
   * @param cluster the attempt's cluster name
   * @param secret the attempt's secret (for the workers' environment, never a command line)
   * @param coordinator host:port of the coordinator's member, the last rank
   * @param logDir where worker logs go, when the launcher keeps them
   * @param fault a {@code TESSERA_FAULT} spec for the workers, or null
   * @param codecThreads each worker JVM's codec threads when they share this host, or 0 for its default
   */
  record Attempt(int number, String cluster, String secret, String coordinator, int workers, Path logDir,
      String fault, LaunchRun.Options options, int codecThreads) {
  }

  /** Starts the attempt's workers; each runs {@code WorkerMain} against the attempt's cluster. */
  Workers start(Attempt a);

  /** The workers of one attempt, as the coordinator can watch them. */
  interface Workers extends AutoCloseable {
    /** Their process ids, in rank order (for the pids file), or empty when they are not this machine's. */
    List<Long> pids();

    /** A worker known to have ended, described ("rank 1 (pid 4242) exited with code 137 (SIGKILL)"). */
    Optional<String> firstExit();

    /** A worker known to have been killed by a signal, waiting up to {@code wait} to learn of one. */
    Optional<String> firstSignalled(Duration wait);

    /** Whether worker {@code r} may still run (true when this launcher cannot tell). */
    boolean alive(int r);

    /** Waits up to {@code seconds} for every worker to end by itself; true if they all did. */
    boolean awaitExit(long seconds);

    /** The last lines of worker {@code r}'s log, for an error message. */
    String tail(int r, int lines);

    /** Ends every worker still running. */
    @Override
    void close();
  }
}
