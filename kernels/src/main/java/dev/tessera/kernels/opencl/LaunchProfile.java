package dev.tessera.kernels.opencl;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Launches and time per op code, kept when {@value #ENV}=1 and printed when the backend closes. */
final class LaunchProfile {
  static final String ENV = "TESSERA_PROFILE";

  private final long[] nanos = new long[128];
  private final long[] count = new long[128];

  /** A profile if {@value #ENV}=1, else null. */
  static LaunchProfile fromEnvironment() {
    return "1".equals(System.getenv(ENV)) ? new LaunchProfile() : null;
  }

  void add(int op, long elapsedNanos) {
    nanos[op] += elapsedNanos;
    count[op]++;
  }

  /** One line per op code, most expensive first. */
  String report() {
    StringBuilder sb = new StringBuilder("OpenCL launches by op (op code: launches, total ms, us per launch):");
    List<Integer> ops = new ArrayList<>();
    for (int i = 0; i < nanos.length; i++) {
      if (count[i] > 0) {
        ops.add(i);
      }
    }
    ops.sort((a, b) -> Long.compare(nanos[b], nanos[a]));
    for (int op : ops) {
      sb.append(String.format(Locale.ROOT, "%n  op %d: %d, %.1f ms, %.1f us", op, count[op], nanos[op] / 1e6,
          nanos[op] / 1e3 / count[op]));
    }
    return sb.toString();
  }
}
