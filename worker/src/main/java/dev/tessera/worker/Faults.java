package dev.tessera.worker;

import org.apache.logging.log4j.LogManager;

/**
 * Fault injection for the crash tests and the cluster benchmark: {@code TESSERA_FAULT=NAME:STEP} in
 * a worker's environment makes it halt at once (as a SIGKILL would: no shutdown hooks, nothing
 * flushed) when it reaches the named point at that step. The coordinator passes the variable on to
 * the workers of its first attempt only, so the restarted workers run clean. Points:
 * {@value #IN_CHECKPOINT} (rank 0, between writing its file and the manifest of a checkpoint: the
 * process halts); {@value #AT_STEP} (every worker given the spec, before training that step: an
 * {@link Injected} error that the worker does not report, as if it had crashed, for workers that
 * must not halt their JVM, such as Spark tasks).
 */
public final class Faults {
  public static final String ENV = "TESSERA_FAULT";
  public static final String IN_CHECKPOINT = "halt-in-checkpoint";
  public static final String AT_STEP = "fail-at-step";
  /** The system property that stands in for {@value #ENV} in a JVM whose environment cannot be set (tests). */
  public static final String PROPERTY = "tessera.fault";
  private static final String SPEC = System.getenv(ENV);

  /** The fault asked for: {@value #ENV}, else the {@value #PROPERTY} property, else null. */
  public static String spec() {
    return SPEC != null ? SPEC : System.getProperty(PROPERTY);
  }

  /** An injected failure: the worker stops without reporting it, as a crashed one would. */
  public static final class Injected extends RuntimeException {
    Injected(String message) {
      super(message);
    }
  }

  /** Throws {@link Injected} if {@code spec} (the environment's when null) asks for a failure at {@code step}. */
  static void failAt(String spec, int step) {
    String s = spec != null ? spec : SPEC;
    if (s != null && s.equals(AT_STEP + ":" + step)) {
      throw new Injected(ENV + "=" + s + ": failing before step " + step + " (fault injection)");
    }
  }

  private Faults() {
  }

  /** Halts this process if the fault {@code point} at {@code step} was asked for. */
  static void at(String point, int step) {
    if (SPEC != null && SPEC.equals(point + ":" + step)) {
      LogManager.getLogger(Faults.class).error("{}={}: halting now (fault injection)", ENV, SPEC);
      LogManager.shutdown();
      Runtime.getRuntime().halt(137);
    }
  }
}
