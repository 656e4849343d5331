package dev.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Reading a run's metrics.csv and comparing losses, for the cluster tests. */
final class LaunchAssertions {
  private LaunchAssertions() {
  }

  /** Per step: train loss, validation loss (NaN if not evaluated), gradient norm. */
  static double[][] losses(Path run) throws IOException {
    List<String> rows = Files.readAllLines(run.resolve("metrics.csv"));
    double[][] out = new double[rows.size() - 1][];
    for (int i = 1; i < rows.size(); i++) {
      String[] f = rows.get(i).split(",", -1);
      out[i - 1] = new double[] {Double.parseDouble(f[1]), f[2].isEmpty() ? Double.NaN : Double.parseDouble(f[2]),
          Double.parseDouble(f[4])};
    }
    return out;
  }

  /** Each value of {@code got} within {@code rel} (relative) of {@code want}; NaN only where want is NaN. */
  static void close(String what, double[] want, double[] got, double rel) {
    assertEquals(want.length, got.length, what);
    for (int i = 0; i < want.length; i++) {
      if (Double.isNaN(want[i]) || Double.isNaN(got[i])) {
        assertEquals(Double.isNaN(want[i]), Double.isNaN(got[i]), what + " column " + i);
        continue;
      }
      double err = Math.abs(got[i] - want[i]) / Math.max(1e-12, Math.abs(want[i]));
      if (err > rel) {
        throw new AssertionError(what + " column " + i + ": " + got[i] + " vs " + want[i] + " (relative " + err + ")");
      }
    }
  }

  /**
   * A run that ended as planned ends quietly: no warning from a Hazelcast member (its lines name the
   * cluster, "[tessera-...]") in the coordinator's output or the workers' logs once the cluster has
   * formed (the coordinator's "every worker joined", a worker's plan line "rank N: attempt"). Members
   * that left at once with the master leaving too used to log a new master and dead peers at every
   * end. While members join, Hazelcast may warn of a member list sent to a member not joined yet; that
   * is the join's, not the end's.
   */
  static void quietEnd(Path run, String coordinatorOut) throws IOException {
    List<String> warned = new ArrayList<>();
    afterMarker(coordinatorOut.lines().toList(), "every worker joined").stream().filter(LaunchAssertions::memberWarning)
        .forEach(l -> warned.add("coordinator: " + l));
    try (Stream<Path> logs = Files.list(run.resolve("workers"))) {
      for (Path log : logs.filter(f -> f.toString().endsWith(".log")).sorted().toList()) {
        afterMarker(Files.readAllLines(log), ": attempt ").stream().filter(LaunchAssertions::memberWarning)
            .forEach(l -> warned.add(log.getFileName() + ": " + l));
      }
    }
    assertTrue(warned.isEmpty(), "Hazelcast warnings at the end of a clean run:\n" + String.join("\n", warned));
  }

  /** The lines after the first that contains {@code marker}; all of them if none does (nothing is skipped unseen). */
  private static List<String> afterMarker(List<String> lines, String marker) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains(marker)) {
        return lines.subList(i + 1, lines.size());
      }
    }
    return lines;
  }

  private static boolean memberWarning(String line) {
    return line.contains(" WARN ") && line.contains("[tessera-");
  }
}
