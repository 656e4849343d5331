package dev.tessera.comm;

import java.util.concurrent.ForkJoinPool;

/**
 * The threads of this JVM that encode and decode {@link Group}'s chunks side by side. The codecs run
 * on the CPU, and one thread encoding a 16 MiB sum with error feedback is slower than the wire; even
 * fp32 chunks (their bytes, CRC and Hazelcast's copy) bounded an exact sum on one thread. Their
 * tasks never wait on a peer, so every group of the JVM (ranks as threads too) can share them.
 */
final class CodecThreads {
  /** {@value Group#CODEC_THREADS_PROPERTY} threads, else cores - 1 ({@link #size}). */
  static final ForkJoinPool POOL = new ForkJoinPool(
      size(System.getProperty(Group.CODEC_THREADS_PROPERTY), Runtime.getRuntime().availableProcessors()), pool -> {
        var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
        t.setName("tessera-codec-" + t.getPoolIndex());
        t.setDaemon(true);
        return t;
      }, null, false);

  /**
   * Each thread's scratch: a chunk's floats before they are added (the codec threads add chunks side by
   * side), what error feedback decodes of what it sent. Used within one task, never across a wait;
   * kept, because a new array a chunk cost more than encoding it (its pages touched for the first time).
   */
  private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[Group.CHUNK_FLOATS]);

  /** This thread's scratch, at least {@code len} floats. */
  static float[] scratch(int len) {
    float[] d = SCRATCH.get();
    if (d.length < len) {
      d = new float[len];
      SCRATCH.set(d);
    }
    return d;
  }

  /**
   * Whether fp32 chunks go through these threads: by default only with two or more of them. With one
   * (a host of two cores) the handing over costs and nothing runs side by side, so the calling thread
   * does it.
   */
  private static volatile boolean forFp32 = POOL.getParallelism() > 1;

  private CodecThreads() {
  }

  static boolean forFp32() {
    return forFp32;
  }

  /** Sets {@link #forFp32()} (tests run both ways on any machine); returns what it was. */
  static boolean forFp32(boolean on) {
    boolean was = forFp32;
    forFp32 = on;
    return was;
  }

  /** The pool's size: {@code property} if set (a positive count), else {@code cores - 1}, at least 1. */
  static int size(String property, int cores) {
    if (property == null || property.isBlank()) {
      return Math.max(1, cores - 1);
    }
    try {
      int n = Integer.parseInt(property.trim());
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("-D" + Group.CODEC_THREADS_PROPERTY + "=" + property
        + ": expected a positive number of threads");
  }
}
