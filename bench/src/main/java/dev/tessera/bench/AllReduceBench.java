package dev.tessera.bench;

import dev.tessera.comm.Group;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run allreduce}: all-reduce of 1 KiB ... 64 MiB among 2 and 4 processes on loopback,
 * over the Hazelcast transport and over a plain-socket ring (the machine's ceiling), side by side:
 * latency (median) and bus bandwidth, 2 (n - 1) / n x bytes / time (what each link carries); and
 * through each of {@code --codecs} (lossy data parallelism's compressed sum), whose bandwidth counts
 * the fp32 bytes summed, so that it compares with the exact sum's.
 */
@Command(name = "allreduce", mixinStandardHelpOptions = true,
    description = "All-reduce over Hazelcast and over plain sockets among local processes.")
final class AllReduceBench implements Callable<Integer> {
  @Option(names = "--procs", split = ",", defaultValue = "2,4", description = "process counts")
  int[] procs;

  @Option(names = "--sizes", split = ",", defaultValue = "1024,65536,1048576,4194304,16777216,67108864",
      description = "buffer sizes in bytes")
  int[] sizes;

  @Option(names = "--reps", defaultValue = "5", description = "timed repetitions per size (the median is kept)")
  int reps;

  @Option(names = "--codecs", split = ",", defaultValue = "bf16", description = "codecs whose compressed sums are "
      + "timed too, fp32 bytes counted (none: --codecs '')")
  List<String> codecs;

  /** Members' addresses on loopback (the socket ring also listens on each port + 1000). */
  private static List<String> freePorts(int n) {
    return dev.tessera.coordinator.run.Ports.free("127.0.0.1", n).stream().map(p -> "127.0.0.1:" + p).toList();
  }

  /** Runs n worker processes in one mode; returns bytes -> seconds (rank 0's medians). */
  private Map<Integer, Double> run(String mode, int n) throws Exception {
    List<String> members = freePorts(n);
    String sizeList = java.util.Arrays.stream(sizes).mapToObj(Integer::toString).collect(Collectors.joining(","));
    List<Process> ps = new ArrayList<>();
    Map<Integer, Double> result = new LinkedHashMap<>();
    try {
      for (int r = 0; r < n; r++) {
        List<String> cmd = new ArrayList<>(List.of(System.getProperty("java.home") + File.separator + "bin"
            + File.separator + "java", "-Xmx1500m"));
        List<String> given = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
            .stream().filter(a -> a.startsWith("--add-") || a.startsWith("-Dhazelcast.") || a.startsWith("-Dtessera."))
            .toList();
        cmd.addAll(given);
        // Exact sums get the share of the cores that tessera launch gives its workers.
        String codecThreads = "-D" + Group.CODEC_THREADS_PROPERTY + "=";
        if (mode.equals("hz") && given.stream().noneMatch(a -> a.startsWith(codecThreads))) {
          cmd.add(codecThreads + Group.sharedCodecThreads(Runtime.getRuntime().availableProcessors(), n));
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), AllReduceWorker.class.getName(), mode,
            Integer.toString(r), Integer.toString(reps), sizeList));
        cmd.addAll(members);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (r > 0) {
          pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        }
        ps.add(pb.start());
      }
      List<String> tail = new ArrayList<>();
      try (BufferedReader in = new BufferedReader(new InputStreamReader(ps.get(0).getInputStream(),
          StandardCharsets.UTF_8))) {
        String l;
        while ((l = in.readLine()) != null) {
          if (l.startsWith("RESULT ")) {
            String[] f = l.split(" ");
            result.put(Integer.parseInt(f[1]), Double.parseDouble(f[2]));
          } else {
            tail.add(l);
          }
        }
      }
      if (!ps.get(0).waitFor(600, TimeUnit.SECONDS) || result.size() != sizes.length) {
        throw new IllegalStateException(mode + " with " + n + " processes did not finish; rank 0 said:\n"
            + String.join("\n", tail.subList(Math.max(0, tail.size() - 20), tail.size())));
      }
    } finally {
      ps.forEach(Process::destroyForcibly);
    }
    return result;
  }

  private static String label(int bytes) {
    return bytes >= 1 << 20 ? (bytes >> 20) + "m" : (bytes >> 10) + "k";
  }

  @Override
  public Integer call() throws Exception {
    BenchLine line = new BenchLine("allreduce");
    for (int n : procs) {
      Map<Integer, Double> hz = run("hz", n);
      Map<Integer, Double> socket = run("socket", n);
      Map<String, Map<Integer, Double>> coded = new LinkedHashMap<>();
      for (String c : codecs) {
        if (!c.isBlank()) {
          coded.put(c.trim(), run("hz:" + c.trim(), n));
        }
      }
      System.out.printf(Locale.ROOT, "%d processes:%n  %10s %14s %14s %14s %14s", n, "bytes", "hz latency",
          "hz busbw", "socket latency", "socket busbw");
      coded.keySet().forEach(c -> System.out.printf(Locale.ROOT, " %14s", c + " busbw"));
      System.out.println();
      for (int bytes : sizes) {
        double factor = 2.0 * (n - 1) / n * bytes / 1e9;
        double h = hz.get(bytes);
        double s = socket.get(bytes);
        System.out.printf(Locale.ROOT, "  %10d %11.3f ms %9.3f GB/s %11.3f ms %9.3f GB/s", bytes, h * 1e3,
            factor / h, s * 1e3, factor / s);
        String l = label(bytes);
        for (Map.Entry<String, Map<Integer, Double>> c : coded.entrySet()) {
          double t = c.getValue().get(bytes);
          System.out.printf(Locale.ROOT, " %9.3f GB/s", factor / t);
          line.put("p" + n + "_hz_" + c.getKey() + "_busbw" + l + "_gbs", factor / t);
        }
        System.out.println();
        line.put("p" + n + "_hz_busbw" + l + "_gbs", factor / h).put("p" + n + "_socket_busbw" + l + "_gbs", factor / s);
        if (bytes == sizes[0]) {
          line.put("p" + n + "_hz_latency" + l + "_ms", h * 1e3).put("p" + n + "_socket_latency" + l + "_ms", s * 1e3);
        }
      }
      if (hz.containsKey(16 << 20)) {
        double factor = 2.0 * (n - 1) / n * (16 << 20) / 1e9;
        if (n == procs[0]) { // the headline figures, for the first process count
          line.put("hz_busbw16m_gbs", factor / hz.get(16 << 20)).put("socket_busbw16m_gbs",
              factor / socket.get(16 << 20));
        }
        line.put("p" + n + "_ratio16m", (factor / hz.get(16 << 20)) / (factor / socket.get(16 << 20)));
      }
    }
    line.emit();
    return 0;
  }
}
