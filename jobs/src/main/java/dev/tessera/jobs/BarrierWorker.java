package dev.tessera.jobs;

import dev.tessera.comm.HazelcastTransport;
import dev.tessera.worker.WorkerMain;
import java.io.IOException;
import java.io.Serializable;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * One barrier task of a Spark training stage, one per rank: picks a port on its executor's host,
 * exchanges host:port with the other tasks ({@link BarrierTaskContext#allGather}), joins the attempt's
 * cluster as a Hazelcast member (the coordinator, on the driver, is the last member) and serves as
 * {@code tessera launch}'s worker processes do ({@link WorkerMain#serve}). A worker that fails ends
 * its task with an error, which fails the stage; the coordinator starts the next attempt.
 */
final class BarrierWorker extends AbstractFunction1<Iterator<Integer>, Iterator<Integer>> implements Serializable {
  private static final long serialVersionUID = 1L;
  /** Spark's name for the resource a task's GPUs are. */
  static final String GPU = "gpu";
  private static final org.apache.logging.log4j.Logger LOG =
      org.apache.logging.log4j.LogManager.getLogger(BarrierWorker.class);

  private final String cluster;
  private final String secret;
  private final String coordinator;
  private final int workers;
  private final long heartbeatSeconds;
  private final long joinSeconds;
  private final String fault;

  BarrierWorker(String cluster, String secret, String coordinator, int workers, long heartbeatSeconds,
      long joinSeconds, String fault) {
    this.cluster = cluster;
    this.secret = secret;
    this.coordinator = coordinator;
    this.workers = workers;
    this.heartbeatSeconds = heartbeatSeconds;
    this.joinSeconds = joinSeconds;
    this.fault = fault;
  }

  @Override
  public Iterator<Integer> apply(Iterator<Integer> ignored) {
    BarrierTaskContext ctx = BarrierTaskContext.get();
    int rank = ctx.partitionId();
    String address = ctx.getTaskInfos()[rank].address();
    String host = ip(address.contains(":") ? address.substring(0, address.lastIndexOf(':')) : address);
    int port = freePort(host);
    List<String> members = new ArrayList<>(Arrays.asList(ctx.allGather(host + ":" + port)));
    members.add(coordinator);
    HazelcastTransport.Settings s = new HazelcastTransport.Settings(cluster, rank, workers + 1, host, port,
        new HazelcastTransport.Join.TcpIp(members), Duration.ofSeconds(heartbeatSeconds), secret);
    int device = device(ctx, rank);
    int code;
    try (HazelcastTransport t = HazelcastTransport.start(s, Duration.ofSeconds(joinSeconds))) {
      code = WorkerMain.serve(t, workers, fault, device);
    }
    if (code != 0) {
      throw new IllegalStateException("rank " + rank + " of " + cluster + " failed (it reported why to the "
          + "coordinator)");
    }
    return CollectionConverters.asScala(List.of(rank).iterator());
  }

  /**
   * The OpenCL device this task opens: the GPU Spark's resource scheduling gave it
   * ({@code spark.task.resource.gpu.amount}; its address, a number, counts the OpenCL devices of the
   * requested kind, and must exist), else -1: the one the config gives the rank, as in {@code tessera
   * launch}. Two tasks of one host that were given no GPU may share one.
   */
  static int device(BarrierTaskContext ctx, int rank) {
    scala.Option<org.apache.spark.resource.ResourceInformation> gpu = ctx.resources().get(GPU);
    if (gpu.isEmpty() || gpu.get().addresses().length == 0) {
      return -1;
    }
    String[] addresses = gpu.get().addresses();
    try {
      int d = Integer.parseInt(addresses[0].trim());
      LOG.info("rank {}: Spark gave this task gpu {} (of {}); it opens OpenCL device {}", rank,
          String.join(",", addresses), addresses.length, d);
      return d;
    } catch (NumberFormatException e) {
      throw new IllegalStateException("rank " + rank + ": Spark's gpu address '" + addresses[0] + "' is not a device "
          + "number; the discovery script must list GPUs as 0, 1, ... (the order OpenCL lists them in)", e);
    }
  }

  /** Hazelcast binds to an interface's address, not a name. */
  private static String ip(String host) {
    try {
      return InetAddress.getByName(host).getHostAddress();
    } catch (IOException e) {
      throw new IllegalStateException("cannot resolve this executor's host " + host + ": " + e.getMessage(), e);
    }
  }

  private static int freePort(String host) {
    try {
      return dev.tessera.coordinator.run.Ports.free(host, 1).get(0);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("no free port on " + host + ": " + e.getMessage(), e);
    }
  }
}
