package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.io.Safetensors;
import dev.tessera.model.layers.LayerFactory;
import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layout dp2 x tp2 as four worker JVMs over Hazelcast on loopback equals one worker (three steps). */
class ProcessLayoutTest {
  @TempDir
  Path dir;

  @Test
  void dp2xtp2AsFourJvmsOverHazelcastEqualsOneWorker() throws Exception {
    int n = 4;
    List<String> members = new ArrayList<>();
    List<ServerSocket> held = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
      held.add(s);
      members.add("127.0.0.1:" + s.getLocalPort());
    }
    for (ServerSocket s : held) {
      s.close();
    }
    String cluster = "tessera-layout-" + System.nanoTime();
    List<Process> ps = new ArrayList<>();
    try {
      for (int r = 0; r < n; r++) {
        List<String> cmd = new ArrayList<>(List.of(System.getProperty("java.home") + File.separator + "bin"
            + File.separator + "java", "-Xmx512m"));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(a -> a.startsWith("--add-")).toList());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LayoutWorker.class.getName(), cluster,
            Integer.toString(r), dir.resolve("rank" + r + ".safetensors").toString()));
        cmd.addAll(members);
        ps.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("rank" + r + ".log")
            .toFile()).start());
      }
      for (int r = 0; r < n; r++) {
        boolean done = ps.get(r).waitFor(180, TimeUnit.SECONDS);
        String log = Files.exists(dir.resolve("rank" + r + ".log"))
            ? Files.readString(dir.resolve("rank" + r + ".log"), StandardCharsets.UTF_8) : "";
        String tail = log.substring(Math.max(0, log.length() - 3000));
        assertTrue(done && ps.get(r).exitValue() == 0 && log.contains("DONE " + r), "rank " + r + ":\n" + tail);
      }
    } finally {
      ps.forEach(Process::destroyForcibly);
    }
    LayoutRun.Result one = LayoutRun.run(LayerFactory.LOCAL);
    ParallelDims mesh = new ParallelDims(2, 1, 2, 1, 1);
    for (int r = 0; r < n; r++) {
      Map<String, Safetensors.Entry> f = Safetensors.read(dir.resolve("rank" + r + ".safetensors"));
      Map<String, float[]> grads = new LinkedHashMap<>();
      Map<String, float[]> values = new LinkedHashMap<>();
      Map<String, int[]> shapes = new LinkedHashMap<>();
      for (var e : f.entrySet()) {
        if (e.getKey().startsWith("value.")) {
          String name = e.getKey().substring(6);
          values.put(name, e.getValue().data());
          shapes.put(name, e.getValue().shape());
          grads.put(name, f.get("grad." + name).data());
        }
      }
      assertEquals(one.values().keySet(), values.keySet());
      LayoutRun.Result got = new LayoutRun.Result(f.get("loss").data(), grads, values, shapes);
      LayoutRun.assertEquivalent("dp2xtp2 in 4 JVMs", r, one, got, mesh.coord(r, Axis.TP), 2, false);
    }
  }
}
