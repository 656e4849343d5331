package dev.tessera.comm;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * One rank of {@link ProcessClusterTest}, in its own JVM: joins the cluster, runs every collective
 * on known data and checks the results, then either prints "OK" or, in "loop" mode, all-reduces until
 * a peer fails and prints the error. Arguments: cluster rank mode member...
 */
public final class ClusterWorker {
  private ClusterWorker() {
  }

  private static float[] data(int rank, int len) {
    float[] x = new float[len];
    for (int i = 0; i < len; i++) {
      x[i] = (rank + 1) * (i % 1013) - 500;
    }
    return x;
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError(what);
    }
  }

  public static void main(String[] args) {
    String cluster = args[0];
    int rank = Integer.parseInt(args[1]);
    String mode = args[2];
    List<String> members = Arrays.asList(args).subList(3, args.length);
    int n = members.size();
    int[] ranks = new int[n];
    for (int r = 0; r < n; r++) {
      ranks[r] = r;
    }
    try (HazelcastTransport t = HazelcastTransport.start(
        HazelcastTransport.Settings.loopback(cluster, rank, members, Duration.ofSeconds(20)))) {
      Group g = new Group(t, 1, ranks, Duration.ofSeconds(20));
      if (mode.equals("loop")) {
        System.out.println("READY " + rank);
        System.out.flush();
        try {
          for (long step = 0; ; step++) {
            g.allReduce(new float[1 << 20], step);
          }
        } catch (CommException e) {
          System.out.println("FAILED " + rank + " " + e.getClass().getSimpleName() + ": " + e.getMessage());
          System.out.flush();
          Runtime.getRuntime().halt(0);
        }
      }
      for (int len : new int[] {777, 2 * Group.CHUNK_FLOATS + 12_345}) {
        float[] x = data(rank, len);
        g.allReduce(x, 1);
        for (int i = 0; i < len; i++) {
          float want = 0;
          for (int r = 0; r < n; r++) {
            want += (r + 1) * (i % 1013) - 500;
          }
          check(x[i] == want, "all-reduce of " + len + " at " + i + ": " + x[i] + " != " + want);
        }
      }
      float[] seg = g.reduceScatter(data(rank, 1001), 2);
      int off = 0;
      for (int m = 0; m < rank; m++) {
        off += 1001 / n + (m < 1001 % n ? 1 : 0);
      }
      for (int i = 0; i < seg.length; i++) {
        float want = 0;
        for (int r = 0; r < n; r++) {
          want += (r + 1) * ((off + i) % 1013) - 500;
        }
        check(seg[i] == want, "reduce-scatter at " + i);
      }
      int[] counts = new int[n];
      for (int m = 0; m < n; m++) {
        counts[m] = m + 2;
      }
      float[] mine = new float[counts[rank]];
      Arrays.fill(mine, rank);
      float[] all = g.allGather(mine, counts, 3);
      int p = 0;
      for (int m = 0; m < n; m++) {
        for (int k = 0; k < counts[m]; k++) {
          check(all[p++] == m, "all-gather");
        }
      }
      float[][] send = new float[n][];
      for (int m = 0; m < n; m++) {
        send[m] = new float[rank + m];
        Arrays.fill(send[m], rank * 10 + m);
      }
      float[][] got = g.allToAllV(send, 4);
      for (int m = 0; m < n; m++) {
        check(got[m].length == m + rank, "all-to-all length from " + m);
        for (float v : got[m]) {
          check(v == m * 10 + rank, "all-to-all value from " + m);
        }
      }
      float[] b = rank == n - 1 ? data(42, 3000) : new float[3000];
      g.broadcast(b, n - 1, 5);
      check(Arrays.equals(b, data(42, 3000)), "broadcast");
      g.barrier(6);
      System.out.println("DIRECT " + rank + " " + t.writesPacketsDirectly());
      System.out.println("OK " + rank + " sent " + t.traffic().snapshot().get(1).bytesSent() + " bytes");
      System.out.flush();
      g.barrier(7); // nobody leaves before everyone has checked
    } catch (Throwable e) {
      System.out.println("ERROR " + rank + " " + e);
      e.printStackTrace(System.out);
      System.out.flush();
      Runtime.getRuntime().halt(1);
    }
    Runtime.getRuntime().halt(0);
  }
}
