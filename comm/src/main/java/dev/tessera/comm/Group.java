package dev.tessera.comm;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Collectives over a group of ranks (one mesh axis): all-reduce, reduce-scatter, all-gather,
 * all-to-all with variable counts, broadcast and barrier, on fp32 arrays. Every member calls the
 * same collectives in the same order (each call takes the next sequence number, which tags its
 * frames). Tensors travel in chunks of at most {@link #CHUNK_FLOATS} floats (compressed ones in
 * chunks whose encoding is about that size, {@link CompressedSum#chunkFloats}), posted
 * asynchronously so that several are in flight, and encoded and decoded on the codec threads
 * ({@link CodecThreads}).
 * All-reduce is a reduce-scatter, then an all-gather, each a direct exchange among all members (one
 * step, not a ring's n - 1), for large tensors, and whole vectors exchanged for small ones; either way
 * every member ends with the same bits.
 * Every wait has the group's timeout and fails naming the peer.
 */
public final class Group {
  /**
   * Floats per frame: 512 KiB. Smaller frames pipeline through Hazelcast's stages (encode, socket,
   * decode on the other member): a 16 MiB all-reduce of two ranks on a 16-core host took 30 ms with
   * 4 MiB frames, 20-21 ms with 1 MiB and 256 KiB ones (docs/benchmarks.md#allreduce); and a frame of
   * 512 KiB stays below G1's humongous size for heaps from 4 GB. {@code -Dtessera.comm.chunkFloats=N}
   * sets it (for benchmarks: 256 KiB frames were slower at 64 MiB, docs/comm.md).
   */
  public static final int CHUNK_FLOATS = Integer.getInteger("tessera.comm.chunkFloats", 1 << 17);
  /** All-reduces of at most this many floats exchange whole vectors instead of segments. */
  public static final int SMALL_FLOATS = 1 << 14;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
  /** The most members a group may have. */
  public static final int MAX_MEMBERS = 128;

  /** System property: how many threads encode and decode chunks in this JVM ({@link CodecThreads}). */
  public static final String CODEC_THREADS_PROPERTY = "tessera.comm.codecThreads";

  final Transport transport;
  private final int id;
  final int[] ranks;
  final int index;
  private final Duration timeout;
  private long seq;

  /**
   * @param id the group's id on the wire (distinct per group of a job)
   * @param ranks the members, in group order; this transport's rank must be one of them
   */
  public Group(Transport transport, int id, int[] ranks, Duration timeout) {
    if (ranks.length < 1 || ranks.length > MAX_MEMBERS) {
      throw new IllegalArgumentException("group " + id + " has " + ranks.length + " members; 1 to " + MAX_MEMBERS
          + " are supported");
    }
    this.transport = transport;
    this.id = id;
    this.ranks = ranks.clone();
    this.timeout = timeout;
    int me = -1;
    for (int i = 0; i < ranks.length; i++) {
      if (ranks[i] == transport.rank()) {
        me = i;
      }
    }
    if (me < 0) {
      throw new IllegalArgumentException("rank " + transport.rank() + " is not in group " + id + " "
          + Arrays.toString(ranks));
    }
    this.index = me;
  }

  public int size() {
    return ranks.length;
  }

  /** How long each of this group's waits may take. */
  public Duration timeout() {
    return timeout;
  }

  /** This rank's position in the group. */
  public int index() {
    return index;
  }

  // ---- chunked point-to-point within the group ----------------------------------------------------

  MessageKey key(long op, int phase, int chunk, long step) {
    return new MessageKey(id, (op << 24) | ((long) phase << 16) | chunk, step);
  }

  /**
   * Posts x[off .. off + len) in chunks ({@link Transport#post}: the receives tell they came). A
   * tensor of several chunks has them encoded and handed to the transport on the codec threads (the
   * frame's bytes, its CRC and the transport's own copy are CPU work: on one thread they bounded a
   * sum's rate); x[off .. off + len) must stay as it is until {@link #await} has returned.
   */
  private void postFloats(Sends sends, int member, long op, int phase, long step, float[] x, int off, int len) {
    int chunks = chunks(len);
    for (int c = 0; c < chunks; c++) {
      int o = off + c * CHUNK_FLOATS;
      int n = Math.min(CHUNK_FLOATS, off + len - o);
      MessageKey k = key(op, phase, c, step);
      Trace.mark(Trace.Stage.SUBMIT, transport.rank(), ranks[member], k, 4 * n);
      if (chunks == 1 || !CodecThreads.forFp32()) {
        sends.done.add(transport.postFloats(ranks[member], k, x, o, n));
      } else {
        CompletableFuture<CompletableFuture<Void>> encoded = CompletableFuture.supplyAsync(() -> {
          sends.going();
          return transport.postFloats(ranks[member], k, x, o, n);
        }, CodecThreads.POOL);
        sends.reading.add(encoded);
        sends.done.add(encoded.thenCompose(f -> f));
      }
    }
  }

  /**
   * A collective's sends: their completions, and the codec tasks that may still read (or, in a
   * compressed sum, write) its arrays. Closing it (on any way out of the collective) stops the tasks
   * not started yet ({@link #going}) and waits for the running ones, so that a failed collective leaves
   * no task touching an array its caller may reuse; after {@link #await} there are none.
   */
  final class Sends implements AutoCloseable {
    final List<CompletableFuture<Void>> done = new ArrayList<>();
    final List<CompletableFuture<?>> reading = new ArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Throws in a codec task that starts after the collective has ended (it failed). */
    void going() {
      if (closed.get()) {
        throw new java.util.concurrent.CancellationException("group " + id + ": the collective has failed");
      }
    }

    @Override
    public void close() {
      closed.set(true);
      settle(reading);
      reading.clear();
    }
  }

  /**
   * Waits (at most the timeout) until every one of {@code tasks} has ended, whichever way; codec tasks
   * never wait on a peer.
   */
  private void settle(List<? extends CompletableFuture<?>> tasks) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (CompletableFuture<?> f : tasks) {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (ExecutionException | TimeoutException | java.util.concurrent.CancellationException ignored) {
        // failed or stopped too: all that matters is that it no longer runs
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Fails at once if a member has left: the others may never send what this rank waits for. */
  private void checkMembers(MessageKey waitingFor) {
    for (int r : ranks) {
      if (transport.isLost(r)) {
        throw new CommException.PeerLost("group " + id + ": rank " + r + " is gone (rank " + transport.rank()
            + " waiting for " + waitingFor + ")");
      }
    }
  }

  Frame receive(int member, MessageKey key) {
    checkMembers(key);
    return transport.receive(ranks[member], key, timeout);
  }

  /**
   * Receives len floats into x[off..]; with {@code add}, adds them instead. This thread waits for the
   * chunks in turn and the codec threads copy (or add) each into x as it comes.
   */
  private void receiveFloats(int member, long op, int phase, long step, float[] x, int off, int len, boolean add) {
    receiveChunks(new int[] {member}, op, phase, step, x, new int[] {off}, new int[] {len}, add);
  }

  /**
   * Receives {@code members[i]}'s lens[i] floats into x[offs[i] ..]; with {@code add} every member's
   * floats are added into the same range, in the order of {@code members} (so that every member of the
   * group adds in the same order, whatever the arrival order). This thread waits for the frames in that
   * order (give it the order they are sent in) and hands each to the codec threads as it comes; a
   * chunk's add waits only for the same chunk's add from the member before, not for that member's
   * other chunks, so that adds run while later frames are still on the wire.
   */
  private void receiveChunks(int[] members, long op, int phase, long step, float[] x, int[] offs, int[] lens,
      boolean add) {
    int most = 1;
    for (int len : lens) {
      most = Math.max(most, chunks(len));
    }
    boolean here = most == 1 || !CodecThreads.forFp32();
    List<CompletableFuture<Void>> tasks = new ArrayList<>();
    @SuppressWarnings("unchecked")
    CompletableFuture<Void>[] lastAdd = add && !here ? new CompletableFuture[most] : null;
    RuntimeException failure = null;
    try {
      for (int i = 0; i < members.length; i++) {
        int member = members[i];
        for (int c = 0; c < chunks(lens[i]); c++) {
          int o = offs[i] + c * CHUNK_FLOATS;
          int n = Math.min(CHUNK_FLOATS, offs[i] + lens[i] - o);
          MessageKey k = key(op, phase, c, step);
          Frame f = receive(member, k);
          f.requireFloats(n); // here, not in a task: a wrong length fails at once, not after the next wait
          Runnable copy = () -> {
            f.floatsInto(x, o, n, add, add ? CodecThreads.scratch(n) : null);
            Trace.mark(Trace.Stage.ADDED, ranks[member], transport.rank(), k, 4 * n);
          };
          if (here) {
            copy.run();
          } else if (lastAdd != null) {
            CompletableFuture<Void> before = lastAdd[c];
            lastAdd[c] = before == null ? CompletableFuture.runAsync(copy, CodecThreads.POOL)
                : before.thenRunAsync(copy, CodecThreads.POOL);
            tasks.add(lastAdd[c]);
          } else {
            tasks.add(CompletableFuture.runAsync(copy, CodecThreads.POOL));
          }
        }
      }
    } catch (RuntimeException e) {
      failure = e;
    }
    // Every copy into x has ended before this returns or throws: a failed receive leaves no task writing x.
    String what = tasks.isEmpty() ? "" : (add ? "adding" : "copying") + " the chunks from ranks "
        + Arrays.toString(Arrays.stream(members).map(m -> ranks[m]).toArray());
    joinAll(tasks, what, failure);
  }

  /**
   * Waits for every task, so that none writes its output once this returns or throws (a receive
   * failed, a frame did not decode), then throws {@code failure} if there is one, else the first task's.
   */
  void joinAll(List<CompletableFuture<Void>> tasks, String what, RuntimeException failure) {
    for (CompletableFuture<Void> f : tasks) {
      try {
        joined(f, what);
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else if (e != failure) { // an add after a failed one fails with the same exception
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  /** The frames a tensor of {@code len} floats travels in (one, if empty). */
  private static int chunks(int len) {
    return Math.max(1, (len + CHUNK_FLOATS - 1) / CHUNK_FLOATS);
  }

  void await(Sends sends) {
    await(sends.done);
    sends.reading.clear(); // every send is done, so every chunk was encoded
  }

  private void await(List<CompletableFuture<Void>> inFlight) {
    for (CompletableFuture<Void> f : inFlight) {
      try {
        f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        throw new CommException.Timeout("group " + id + ": a send did not complete within " + timeout.toMillis()
            + " ms");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CommException("interrupted while sending in group " + id, e);
      } catch (ExecutionException e) {
        // As it was thrown (a peer gone, a bad destination), whether the send ran here or on a codec thread.
        throw e.getCause() instanceof RuntimeException r ? r : new CommException("send failed in group " + id,
            e.getCause());
      }
    }
    inFlight.clear();
  }

  /** Segment lengths of a vector of {@code total} floats split over {@code parts} members by {@link #reduceScatter}. */
  public static int[] evenCounts(int total, int parts) {
    int[] c = new int[parts];
    for (int i = 0; i < parts; i++) {
      c[i] = total / parts + (i < total % parts ? 1 : 0);
    }
    return c;
  }

  static int[] offsets(int[] counts) {
    int[] o = new int[counts.length + 1];
    for (int i = 0; i < counts.length; i++) {
      o[i + 1] = o[i] + counts[i];
    }
    return o;
  }

  // ---- collectives --------------------------------------------------------------------------------

  /** x = the sum of every member's x, in place. */
  public void allReduce(float[] x, long step) {
    long op = seq++;
    int n = ranks.length;
    if (n == 1) {
      return;
    }
    if (x.length <= SMALL_FLOATS) {
      directAllReduce(op, x, step);
      return;
    }
    int[] counts = evenCounts(x.length, n);
    int[] offs = offsets(counts);
    directReduceScatter(op, x, counts, offs, step);
    directAllGather(op, x, counts, offs, step);
  }

  /** x = the mean of every member's x, in place (the sum, then scaled by 1 / members). */
  public void allReduceMean(float[] x, long step) {
    allReduce(x, step);
    float inv = 1f / ranks.length;
    for (int i = 0; i < x.length; i++) {
      x[i] *= inv;
    }
  }

  /** Every member sends its vector to every other and sums all n in member order: same bits everywhere. */
  private void directAllReduce(long op, float[] x, long step) {
    int n = ranks.length;
    float[][] all = new float[n][];
    try (Sends sends = new Sends()) {
      for (int m = 0; m < n; m++) {
        if (m != index) {
          postFloats(sends, m, op, 0, step, x, 0, x.length);
        }
      }
      all[index] = x.clone();
      for (int m = 0; m < n; m++) {
        if (m != index) {
          all[m] = new float[x.length];
          receiveFloats(m, op, 0, step, all[m], 0, x.length, false);
        }
      }
      await(sends);
    }
    for (int i = 0; i < x.length; i++) {
      float s = 0f;
      for (int m = 0; m < n; m++) {
        s += all[m][i];
      }
      x[i] = s;
    }
  }

  /**
   * Reduce-scatter by direct exchange: member i sends segment m to member m, all at once (to member
   * i + 1 first), and adds the others' segment i into its own in a fixed order, whatever the arrival
   * order: the order they are sent in, from member i - 1 (which sends to i first) back to i + 1. It
   * moves a ring's bytes in one step, not n - 1 of ~2 ms each on Hazelcast (docs/comm.md).
   */
  private void directReduceScatter(long op, float[] x, int[] counts, int[] offs, long step) {
    int n = ranks.length;
    try (Sends sends = new Sends()) {
      for (int d = 1; d < n; d++) {
        int m = (index + d) % n;
        postFloats(sends, m, op, 1, step, x, offs[m], counts[m]);
      }
      int[] from = new int[n - 1];
      int[] at = new int[n - 1];
      int[] lens = new int[n - 1];
      for (int d = 1; d < n; d++) {
        from[d - 1] = (index + n - d) % n;
        at[d - 1] = offs[index];
        lens[d - 1] = counts[index];
      }
      receiveChunks(from, op, 1, step, x, at, lens, true);
      await(sends); // the others' segments are sent before an all-gather overwrites them
    }
  }

  /** All-gather by direct exchange: member i sends its segment to every other member at once. */
  private void directAllGather(long op, float[] x, int[] counts, int[] offs, long step) {
    int n = ranks.length;
    try (Sends sends = new Sends()) {
      for (int d = 1; d < n; d++) {
        postFloats(sends, (index + d) % n, op, 128, step, x, offs[index], counts[index]);
      }
      int[] from = new int[n - 1];
      int[] at = new int[n - 1];
      int[] lens = new int[n - 1];
      for (int d = 1; d < n; d++) {
        from[d - 1] = (index + n - d) % n;
        at[d - 1] = offs[from[d - 1]];
        lens[d - 1] = counts[from[d - 1]];
      }
      receiveChunks(from, op, 128, step, x, at, lens, false);
      await(sends);
    }
  }

  /**
   * This member's segment of the sum of every member's x, segments as even as possible (the first
   * {@code x.length % n} one float longer). x is used as scratch.
   */
  public float[] reduceScatter(float[] x, long step) {
    long op = seq++;
    int n = ranks.length;
    int[] counts = evenCounts(x.length, n);
    int[] offs = offsets(counts);
    if (n > 1) {
      directReduceScatter(op, x, counts, offs, step);
    }
    return Arrays.copyOfRange(x, offs[index], offs[index + 1]);
  }

  /** The concatenation of every member's part, in member order; {@code counts[m]} is member m's length. */
  public float[] allGather(float[] mine, int[] counts, long step) {
    long op = seq++;
    if (counts.length != ranks.length || counts[index] != mine.length) {
      throw new IllegalArgumentException("group " + id + ": counts " + Arrays.toString(counts)
          + " do not fit this member's part of " + mine.length);
    }
    int[] offs = offsets(counts);
    float[] out = new float[offs[counts.length]];
    System.arraycopy(mine, 0, out, offs[index], mine.length);
    if (ranks.length > 1) {
      directAllGather(op, out, counts, offs, step);
    }
    return out;
  }

  /** {@code send[m]} goes to member m; returns what each member sent here (any lengths). */
  public float[][] allToAllV(float[][] send, long step) {
    long op = seq++;
    int n = ranks.length;
    if (send.length != n) {
      throw new IllegalArgumentException("group " + id + " has " + n + " members, got " + send.length + " parts");
    }
    float[][] got = new float[n][];
    try (Sends sends = new Sends()) {
      for (int m = 0; m < n; m++) {
        if (m != index) {
          sends.done.add(transport.post(ranks[m], key(op, 0, 0, step), Codec.FP32,
              java.nio.ByteBuffer.allocate(4).putInt(send[m].length).array()));
          postFloats(sends, m, op, 1, step, send[m], 0, send[m].length);
        }
      }
      got[index] = send[index].clone();
      for (int m = 0; m < n; m++) {
        if (m != index) {
          byte[] count = receive(m, key(op, 0, 0, step)).payload();
          if (count.length != 4) {
            throw new CommException.BadFrame("group " + id + ": the count frame from rank " + ranks[m] + " has "
                + count.length + " bytes, not 4");
          }
          int len = java.nio.ByteBuffer.wrap(count).getInt();
          got[m] = new float[len];
          receiveFloats(m, op, 1, step, got[m], 0, len, false);
        }
      }
      await(sends);
    }
    return got;
  }

  /** x on every member = x of member {@code root}. */
  public void broadcast(float[] x, int root, long step) {
    long op = seq++;
    if (index == root) {
      try (Sends sends = new Sends()) {
        for (int m = 0; m < ranks.length; m++) {
          if (m != root) {
            postFloats(sends, m, op, 0, step, x, 0, x.length);
          }
        }
        await(sends);
      }
    } else {
      receiveFloats(root, op, 0, step, x, 0, x.length, false);
    }
  }

  /**
   * x = the sum of every member's x through {@code codec}: a compressed reduce-scatter (each member
   * encodes the segment of every other member, with error feedback kept in {@code ef} under
   * {@code tensor}), each member sums its segment, then a compressed all-gather (the owner encodes its
   * summed segment, with error feedback again). Every member decodes the same bytes, so all end with
   * the same values. With a lossless codec this is an exact all-reduce by direct exchange.
   *
   * <p>Segments travel in chunks of {@link CompressedSum#chunkFloats} floats, each encoded (with its own
   * error feedback) on the codec threads and sent as soon as it is encoded, so that encoding, the
   * wire and decoding overlap. The block codecs' blocks divide a chunk, so a chunk encodes as it
   * would within its whole segment; top-k keeps its fraction of each chunk. If it fails (a peer
   * gone, a timeout, a corrupt frame), the codec tasks not started yet do nothing and the running
   * ones are awaited, but x and this tensor's error feedback are left part-way: the caller must not
   * go on with them (data parallelism stops).
   */
  public void allReduceCompressed(float[] x, String tensor, Codec codec, ErrorFeedback ef, long step) {
    long op = seq++;
    int n = ranks.length;
    if (n == 1) {
      return;
    }
    int[] counts = evenCounts(x.length, n);
    int chunk = CompressedSum.chunkFloats(codec);
    if (CompressedSum.chunks(counts[0], chunk) > 0xFFFF) { // the frame key has 16 bits for the chunk
      throw new IllegalArgumentException("group " + id + ": a compressed sum of " + x.length + " floats in chunks of "
          + chunk + " needs " + CompressedSum.chunks(counts[0], chunk) + " chunks per member, more than 65535");
    }
    try (Sends sends = new Sends()) {
      CompressedSum.run(this, sends, x, tensor, codec, ef, step, op, counts, chunk);
    }
  }



  /**
   * Codec threads for each of {@code workers} JVMs on a host of {@code cores} that share it: their
   * share of the cores (at least one), not each cores - 1 (a JVM's default).
   */
  public static int sharedCodecThreads(int cores, int workers) {
    return Math.max(1, cores / Math.max(1, workers));
  }

  /** The threads this JVM encodes and decodes chunks on. */
  public static int codecPoolSize() {
    return CodecThreads.POOL.getParallelism();
  }

  /** A codec task's result; its failure is rethrown as it was (a bad length, a corrupt frame). */
  <T> T joined(CompletableFuture<T> f, String what) {
    try {
      return f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      throw new CommException.Timeout("group " + id + ": " + what + " took over " + timeout.toMillis() + " ms");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommException("interrupted " + what + " in group " + id, e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new CommException(what + " failed in group " + id, e.getCause());
    }
  }

  /** Returns when every member has called it (or fails naming the member that did not). */
  public void barrier(long step) {
    allReduce(new float[1], step);
  }
}
