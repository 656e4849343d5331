package dev.tessera.parallelism;

import dev.tessera.comm.Codec;
import dev.tessera.comm.ErrorFeedback;
import dev.tessera.comm.Group;
import dev.tessera.kernels.Backend;
import dev.tessera.model.Params;

/**
 * Data parallelism over one dp group: every member trains on its own part of the global batch with
 * the loss scaled by the global token count, then the gradients are summed over the group, so the
 * step equals one worker's on the whole batch. Optionally compressed (a codec with error feedback
 * per parameter). All gradients travel as one flat vector, in parameter order.
 */
public final class DataParallel {
  private final Group group;
  private final Codec codec;
  private final int exactSteps;
  private final ErrorFeedback feedback = new ErrorFeedback();

  /** Uncompressed (fp32) data parallelism. */
  public DataParallel(Group group) {
    this(group, null);
  }

  /** @param codec null or fp32 for exact sums, else a lossy codec used with error feedback */
  public DataParallel(Group group, Codec codec) {
    this(group, codec, 0);
  }

  /** @param exactSteps steps summed exactly before the codec takes over (a warm-up, as 1-bit Adam and DGC do) */
  public DataParallel(Group group, Codec codec, int exactSteps) {
    this.group = group;
    this.codec = codec;
    this.exactSteps = exactSteps;
  }

  public int size() {
    return group.size();
  }

  /** The dp group (ZeRO-1 shards the optimizer over it: {@link ZeroOneAdamW}). */
  public Group group() {
    return group;
  }

  public int index() {
    return group.index();
  }

  /** Sums every parameter gradient over the group, in place (one flat buffer, segment by segment). */
  public void allReduceGrads(Params params, long step) {
    if (group.size() == 1) {
      return;
    }
    Backend be = params.backend();
    int total = 0;
    for (Params.Segment seg : params.segments()) {
      total += seg.grads().size();
    }
    float[] flat = new float[total];
    int off = 0;
    for (Params.Segment seg : params.segments()) {
      float[] g = be.read(seg.grads());
      System.arraycopy(g, 0, flat, off, g.length);
      off += g.length;
    }
    if (codec == null || codec.lossless() || step < exactSteps) {
      group.allReduce(flat, step);
    } else {
      group.allReduceCompressed(flat, "grads", codec, feedback, step);
    }
    off = 0;
    for (Params.Segment seg : params.segments()) {
      be.write(seg.grads(), java.util.Arrays.copyOfRange(flat, off, off + seg.grads().size()));
      off += seg.grads().size();
    }
  }

  /** Sums a scalar (a loss sum, a token count) over the group. */
  public double allReduceScalar(double x, long step) {
    float[] v = {(float) x};
    group.allReduce(v, step);
    return v[0];
  }
}
