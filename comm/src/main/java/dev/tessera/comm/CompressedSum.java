package dev.tessera.comm;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The body of {@link Group#allReduceCompressed}: a compressed reduce-scatter (each member encodes
 * every other member's segment, chunk by chunk on the codec threads, and posts each chunk as soon as
 * it is encoded), each member's sum of its segment in member order, then a compressed all-gather of
 * the summed segments (encoded once by their owner, decoded by everyone), so every member ends with
 * the same values.
 */
final class CompressedSum {
  private final Group g;
  private final Group.Sends sends;
  private final float[] x;
  private final String tensor;
  private final Codec codec;
  private final ErrorFeedback ef;
  private final long step;
  private final long op;
  private final int[] counts;
  private final int[] offs;
  private final int chunk;
  private final int n;
  private final int index;

  private CompressedSum(Group g, Group.Sends sends, float[] x, String tensor, Codec codec, ErrorFeedback ef, long step,
      long op, int[] counts, int chunk) {
    this.g = g;
    this.sends = sends;
    this.x = x;
    this.tensor = tensor;
    this.codec = codec;
    this.ef = ef;
    this.step = step;
    this.op = op;
    this.counts = counts;
    this.offs = Group.offsets(counts);
    this.chunk = chunk;
    this.n = g.ranks.length;
    this.index = g.index;
  }

  /** x = the sum of every member's x through the codec; {@code counts} are the members' segments. */
  static void run(Group g, Group.Sends sends, float[] x, String tensor, Codec codec, ErrorFeedback ef, long step,
      long op, int[] counts, int chunk) {
    CompressedSum s = new CompressedSum(g, sends, x, tensor, codec, ef, step, op, counts, chunk);
    s.gather(s.reduceScatter());
  }

  /** Encodes and posts the others' segments, and returns this member's, summed in member order. */
  private float[] reduceScatter() {
    List<CompletableFuture<float[]>> own = new ArrayList<>(); // this member's chunks as the codec delivers them
    for (int hop = 1; hop <= n; hop++) { // what the others wait for first, from the next member on; this member's last
      int m = (index + hop) % n;
      for (int c = 0; c < chunks(counts[m], chunk); c++) {
        int o = offs[m] + c * chunk;
        int len = Math.min(chunk, offs[m] + counts[m] - o);
        String name = tensor + "/rs" + m + "/" + c;
        if (m == index) {
          CompletableFuture<float[]> f = CompletableFuture.supplyAsync(() -> {
            sends.going();
            float[] d = new float[len];
            ef.encode(name, codec, x, o, len, d);
            return d;
          }, CodecThreads.POOL);
          own.add(f);
          sends.reading.add(f);
        } else {
          int member = m;
          MessageKey k = g.key(op, 0, c, step);
          CompletableFuture<byte[]> f = CompletableFuture.supplyAsync(() -> {
            sends.going();
            return ef.encode(name, codec, x, o, len, null);
          }, CodecThreads.POOL);
          sends.reading.add(f);
          sends.done.add(f.thenCompose(b -> g.transport.post(g.ranks[member], k, codec.id(), b)));
        }
      }
    }
    // This member's segment, chunk by chunk, summed in member order (0f + part 0 + part 1 ...) on this
    // thread: decoding the parts on the codec threads side by side would need a buffer each to keep
    // that order (for 1-bit chunks of 2M floats, new pages that cost about what the decoding saves).
    float[] segment = new float[counts[index]];
    float[] part = new float[Math.min(chunk, segment.length)];
    for (int c = 0; c < chunks(segment.length, chunk); c++) {
      int o = c * chunk;
      int len = Math.min(chunk, segment.length - o);
      for (int m = 0; m < n; m++) {
        float[] p = part;
        if (m == index) {
          p = g.joined(own.get(c), "encoding chunk " + c + " of this member's segment");
        } else {
          Frame f = g.receive(m, g.key(op, 0, c, step));
          Codecs.byId(f.header().codec()).decode(f.payload(), part, 0, len);
        }
        for (int i = 0; i < len; i++) {
          segment[o + i] += p[i];
        }
      }
    }
    for (CompletableFuture<?> f : sends.reading) { // x is written below: every read of it must be done
      g.joined(f, "encoding the reduce-scatter's chunks");
    }
    g.await(sends);
    return segment;
  }

  /** Encodes this member's summed segment, posts it to all, and decodes the others' into x. */
  private void gather(float[] segment) {
    for (int c = 0; c < chunks(segment.length, chunk); c++) {
      int o = c * chunk;
      int len = Math.min(chunk, segment.length - o);
      String name = tensor + "/ag/" + c;
      CompletableFuture<byte[]> f = CompletableFuture.supplyAsync(() -> {
        sends.going();
        float[] d = new float[len];
        byte[] b = ef.encode(name, codec, segment, o, len, d);
        System.arraycopy(d, 0, x, offs[index] + o, len);
        return b;
      }, CodecThreads.POOL);
      sends.reading.add(f);
      for (int m = 0; m < n; m++) {
        if (m != index) {
          int member = m;
          MessageKey k = g.key(op, 1, c, step);
          sends.done.add(f.thenCompose(b -> g.transport.post(g.ranks[member], k, codec.id(), b)));
        }
      }
    }
    // The others' segments, decoded into x on the codec threads as their frames come.
    List<CompletableFuture<Void>> tasks = new ArrayList<>();
    RuntimeException failure = null;
    try {
      for (int hop = 1; hop < n; hop++) {
        int m = (index + hop) % n;
        for (int c = 0; c < chunks(counts[m], chunk); c++) {
          int o = offs[m] + c * chunk;
          int len = Math.min(chunk, offs[m] + counts[m] - o);
          Frame f = g.receive(m, g.key(op, 1, c, step));
          tasks.add(CompletableFuture.runAsync(() -> Codecs.byId(f.header().codec()).decode(f.payload(), x, o, len),
              CodecThreads.POOL));
        }
      }
    } catch (RuntimeException e) {
      failure = e;
    }
    g.joinAll(tasks, "decoding the others' summed segments", failure);
    for (CompletableFuture<?> f : sends.reading) {
      g.joined(f, "encoding the all-gather's chunks");
    }
    g.await(sends);
  }

  /** Chunks of {@code chunk} floats in a run of len floats (one, possibly empty, for len 0). */
  static int chunks(int len, int chunk) {
    return Math.max(1, (len + chunk - 1) / chunk);
  }

  /**
   * Floats per chunk of a compressed sum: the most (a power of two from {@link Group#CHUNK_FLOATS}, so
   * that the block codecs' blocks divide it) whose encoding fits the frame of an fp32 chunk, so
   * compressed frames are as large on the wire as exact ones. The system property
   * {@code tessera.comm.codecChunkFloats} overrides it (for benchmarks).
   */
  static int chunkFloats(Codec codec) {
    Integer forced = Integer.getInteger("tessera.comm.codecChunkFloats");
    if (forced != null) {
      return Math.max(1, forced);
    }
    int chunk = Group.CHUNK_FLOATS;
    while (chunk < (1 << 26) && codec.encodedBytes(2 * chunk) <= 4L * Group.CHUNK_FLOATS) {
      chunk *= 2;
    }
    return chunk;
  }
}
