package dev.tessera.parallelism;

import dev.tessera.comm.Group;
import dev.tessera.comm.HazelcastTransport;
import dev.tessera.model.io.Safetensors;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One rank of {@link ProcessLayoutTest} in its own JVM: the dp2 x tp2 mesh over Hazelcast, three steps
 * of {@link LayoutRun}, the losses, last gradients and final parameters written to a safetensors
 * file. Arguments: cluster rank out member...
 */
public final class LayoutWorker {
  private LayoutWorker() {
  }

  public static void main(String[] args) throws Exception {
    int rank = Integer.parseInt(args[1]);
    List<String> members = Arrays.asList(args).subList(3, args.length);
    ParallelDims mesh = new ParallelDims(2, 1, 2, 1, 1);
    int code = 0;
    try (HazelcastTransport t = HazelcastTransport.start(
        HazelcastTransport.Settings.loopback(args[0], rank, members, Duration.ofSeconds(30)))) {
      Group tp = new Group(t, mesh.groupId(Axis.TP, rank), mesh.group(Axis.TP, rank), Duration.ofSeconds(30));
      Group dp = new Group(t, mesh.groupId(Axis.DP, rank), mesh.group(Axis.DP, rank), Duration.ofSeconds(30));
      LayoutRun.Result r = LayoutRun.run(new TensorParallel(tp), new DataParallel(dp), false);
      Map<String, Safetensors.Entry> out = new LinkedHashMap<>();
      out.put("loss", new Safetensors.Entry(new int[] {r.losses().length}, r.losses()));
      for (String name : r.values().keySet()) {
        int[] shape = r.shapes().get(name);
        out.put("grad." + name, new Safetensors.Entry(shape, r.grads().get(name)));
        out.put("value." + name, new Safetensors.Entry(shape, r.values().get(name)));
      }
      Safetensors.write(Path.of(args[2]), out, Map.of("rank", Integer.toString(rank)));
      new Group(t, 99, new int[] {0, 1, 2, 3}, Duration.ofSeconds(30)).barrier(0); // nobody leaves early
      System.out.println("DONE " + rank);
    } catch (Throwable e) {
      System.out.println("ERROR " + rank + " " + e);
      e.printStackTrace(System.out);
      code = 1;
    }
    System.out.flush();
    Runtime.getRuntime().halt(code);
  }
}
