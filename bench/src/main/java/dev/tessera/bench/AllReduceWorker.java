package dev.tessera.bench;

import dev.tessera.comm.Codec;
import dev.tessera.comm.Codecs;
import dev.tessera.comm.ErrorFeedback;
import dev.tessera.comm.Group;
import dev.tessera.comm.HazelcastTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One process of {@code bench/run allreduce}: all-reduces buffers of each size over the Hazelcast
 * transport ({@link Group}) or over a plain-socket ring (this machine's ceiling), and rank 0 prints
 * "SIZE bytes seconds" per size (the median of the timed repetitions). Mode hz:CODEC sums through a
 * codec ({@link Group#allReduceCompressed}, with error feedback, as lossy data parallelism does).
 * Arguments: hz|hz:CODEC|socket rank reps sizes(comma-separated bytes) member... (host:port; the
 * socket ring listens on port + 1000).
 */
public final class AllReduceWorker {
  private AllReduceWorker() {
  }

  interface AllReduce {
    void run(float[] x, long step) throws Exception;
  }

  public static void main(String[] args) throws Exception {
    String mode = args[0];
    int rank = Integer.parseInt(args[1]);
    int reps = Integer.parseInt(args[2]);
    int[] sizes = Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt).toArray();
    List<String> members = Arrays.asList(args).subList(4, args.length);
    int n = members.size();
    String jfr = System.getProperty(JFR_PROPERTY);
    jdk.jfr.Recording recording = jfr == null ? null : startRecording();
    if (mode.startsWith("hz")) {
      try (HazelcastTransport t = HazelcastTransport.start(
          HazelcastTransport.Settings.loopback("bench-allreduce-" + members.get(0), rank, members,
              Duration.ofSeconds(60)))) {
        int[] ranks = new int[n];
        for (int r = 0; r < n; r++) {
          ranks[r] = r;
        }
        Group g = new Group(t, 1, ranks, Duration.ofSeconds(60));
        if (mode.startsWith("hz:")) {
          Codec codec = Codecs.byName(mode.substring(3));
          ErrorFeedback ef = new ErrorFeedback();
          measure(rank, reps, sizes, (x, step) -> g.allReduceCompressed(x, "bench" + x.length, codec, ef, step),
              () -> g.barrier(-1));
        } else {
          measure(rank, reps, sizes, g::allReduce, () -> g.barrier(-1));
        }
      }
    } else {
      try (SocketRing ring = new SocketRing(rank, members)) {
        measure(rank, reps, sizes, ring::allReduce, () -> ring.allReduce(new float[1], -1));
      }
    }
    if (recording != null) {
      java.nio.file.Path file = java.nio.file.Path.of(jfr, mode.replace(':', '-') + "-rank-" + rank + ".jfr");
      java.nio.file.Files.createDirectories(file.getParent());
      recording.dump(file);
    }
    Runtime.getRuntime().halt(0);
  }

  /**
   * System property: a folder for a JFR profile of each process ({@code MODE-rank-N.jfr}), written before
   * the process halts (a recording started by -XX:StartFlightRecording would be lost with the halt).
   */
  static final String JFR_PROPERTY = "tessera.bench.jfr";

  private static jdk.jfr.Recording startRecording() throws Exception {
    jdk.jfr.Recording r = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("profile"));
    r.start();
    return r;
  }

  interface Barrier {
    void run() throws Exception;
  }

  private static void measure(int rank, int reps, int[] sizes, AllReduce op, Barrier barrier) throws Exception {
    long step = 0;
    for (int bytes : sizes) {
      float[] x = new float[Math.max(1, bytes / 4)];
      double[] t = new double[reps];
      for (int r = -2; r < reps; r++) { // two warm-ups
        Arrays.fill(x, 1f);
        barrier.run();
        long t0 = System.nanoTime();
        op.run(x, step++);
        if (r >= 0) {
          t[r] = (System.nanoTime() - t0) / 1e9;
        }
      }
      Arrays.sort(t);
      if (rank == 0) {
        System.out.printf(Locale.ROOT, "RESULT %d %.9f%n", bytes, t[reps / 2]);
        System.out.flush();
      }
    }
  }

  /**
   * A ring all-reduce over plain sockets (NIO channels, direct buffers, bulk float copies):
   * reduce-scatter then all-gather, as {@link Group} does.
   */
  static final class SocketRing implements AutoCloseable {
    private final int rank;
    private final int n;
    private final SocketChannel toNext;
    private final SocketChannel fromPrev;
    private ByteBuffer sendBuf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private ByteBuffer recvBuf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private float[] tmp = new float[1];
    private final ExecutorService sender = Executors.newSingleThreadExecutor();

    SocketRing(int rank, List<String> members) throws IOException, InterruptedException {
      this.rank = rank;
      this.n = members.size();
      int myPort = Integer.parseInt(members.get(rank).split(":")[1]) + 1000;
      int nextPort = Integer.parseInt(members.get((rank + 1) % n).split(":")[1]) + 1000;
      try (ServerSocketChannel server = ServerSocketChannel.open()) {
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), myPort));
        SocketChannel s = null;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (s == null) {
          try {
            s = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), nextPort));
          } catch (IOException e) {
            if (System.nanoTime() > deadline) {
              throw new IOException("rank " + rank + " could not reach rank " + (rank + 1) % n, e);
            }
            Thread.sleep(20);
          }
        }
        toNext = s;
        fromPrev = server.accept();
      }
      toNext.socket().setTcpNoDelay(true);
      fromPrev.socket().setTcpNoDelay(true);
    }

    private static ByteBuffer fit(ByteBuffer b, int bytes) {
      return b.capacity() >= bytes ? b : ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private Future<?> send(float[] x, int off, int len) {
      sendBuf = fit(sendBuf, 4 * len);
      return sender.submit(() -> {
        ByteBuffer b = sendBuf;
        b.clear();
        b.asFloatBuffer().put(x, off, len);
        b.limit(4 * len);
        while (b.hasRemaining()) {
          toNext.write(b);
        }
        return null;
      });
    }

    private void receive(float[] x, int off, int len, boolean add) throws IOException {
      recvBuf = fit(recvBuf, 4 * len);
      ByteBuffer b = recvBuf;
      b.clear();
      b.limit(4 * len);
      while (b.hasRemaining()) {
        if (fromPrev.read(b) < 0) {
          throw new IOException("rank " + rank + ": the previous rank closed the ring");
        }
      }
      b.flip();
      if (!add) {
        b.asFloatBuffer().get(x, off, len);
        return;
      }
      if (tmp.length < len) {
        tmp = new float[len];
      }
      b.asFloatBuffer().get(tmp, 0, len);
      for (int i = 0; i < len; i++) {
        x[off + i] += tmp[i];
      }
    }

    void allReduce(float[] x, long step) throws Exception {
      if (n == 1) {
        return;
      }
      int[] offs = new int[n + 1];
      for (int i = 0; i < n; i++) {
        offs[i + 1] = offs[i] + x.length / n + (i < x.length % n ? 1 : 0);
      }
      for (int k = 0; k < n - 1; k++) {
        int s = Math.floorMod(rank - 1 - k, n);
        int r = Math.floorMod(rank - 2 - k, n);
        Future<?> f = send(x, offs[s], offs[s + 1] - offs[s]);
        receive(x, offs[r], offs[r + 1] - offs[r], true);
        f.get();
      }
      for (int k = 0; k < n - 1; k++) {
        int s = Math.floorMod(rank - k, n);
        int r = Math.floorMod(rank - 1 - k, n);
        Future<?> f = send(x, offs[s], offs[s + 1] - offs[s]);
        receive(x, offs[r], offs[r + 1] - offs[r], false);
        f.get();
      }
    }

    @Override
    public void close() throws IOException {
      sender.shutdownNow();
      toNext.close();
      fromPrev.close();
    }
  }
}
