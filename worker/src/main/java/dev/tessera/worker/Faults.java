package dev.tessera.worker;

import org.apache.logging.log4j.LogManager;

/**
 * Fault injection for the crash tests and the cluster benchmark: {@code TESSERA_FAULT=NAME:STEP} in
 * a worker's environment makes it halt at once (as a SIGKILL would: no shutdown hooks, nothing
 * flushed) when it reaches the named point at that step. The coordinator passes the variable on to
 * the workers of its first attempt only, so the restarted workers run clean. Points:
 * {@value #IN_CHECKPOINT} (rank 0, between writing the model file and the manifest of a checkpoint).
 */
public final class Faults {
  public static final String ENV = "TESSERA_FAULT";
  public static final String IN_CHECKPOINT = "halt-in-checkpoint";
  private static final String SPEC = System.getenv(ENV);

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
