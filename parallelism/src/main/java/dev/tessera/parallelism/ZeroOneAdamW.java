package dev.tessera.parallelism;

import dev.tessera.comm.Group;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW with its state sharded over the dp group (ZeRO stage 1). The gradients, as one flat vector
 * in parameter order, are reduce-scattered (summed): each member holds the summed gradient of its
 * segment, keeps AdamW's moments for that segment only, updates that segment of the parameters, and
 * the updated segments are all-gathered into every member's parameters. The result equals plain
 * AdamW on gradients summed over dp; each member stores 1/dp of the optimizer state.
 */
public final class ZeroOneAdamW implements AutoCloseable {
  /** The part of one parameter inside this member's segment. */
  private record Piece(Param param, int from, int to, int segmentOffset, Tensor value, Tensor grad, Tensor m,
      Tensor v) {
  }

  private final Backend be;
  private final List<Param> params;
  private final Group dp;
  private final float beta1;
  private final float beta2;
  private final float eps;
  private final float weightDecay;
  private final int[] counts;
  private final List<Piece> pieces = new ArrayList<>();
  private int step;

  public ZeroOneAdamW(Backend be, List<Param> params, Group dp, float beta1, float beta2, float eps,
      float weightDecay) {
    this.be = be;
    this.params = params;
    this.dp = dp;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    int n = 0;
    for (Param p : params) {
      n += p.value().size();
    }
    this.counts = Group.evenCounts(n, dp.size());
    int lo = 0;
    for (int i = 0; i < dp.index(); i++) {
      lo += counts[i];
    }
    int hi = lo + counts[dp.index()];
    int start = 0;
    for (Param p : params) {
      int end = start + p.value().size();
      int from = Math.max(lo, start);
      int to = Math.min(hi, end);
      if (from < to) {
        int len = to - from;
        pieces.add(new Piece(p, from - start, to - start, from - lo, be.zeros(len), be.zeros(len), be.zeros(len),
            be.zeros(len)));
      }
      start = end;
    }
  }

  /** Floats of optimizer state this member keeps (two moments of its segment). */
  public long stateFloats() {
    return 2L * counts[dp.index()];
  }

  /** Sums the gradients over dp, updates this member's segment, and gathers every segment. */
  public void step(float lr, long trainingStep) {
    step++;
    float[] flat = HostFlat.read(be, params.stream().map(Param::grad).toList());
    float[] segment = dp.reduceScatter(flat, trainingStep);
    float[] updated = new float[segment.length];
    for (Piece piece : pieces) {
      int len = piece.to() - piece.from();
      float[] value = java.util.Arrays.copyOfRange(be.read(piece.param().value()), piece.from(), piece.to());
      be.write(piece.value(), value);
      be.write(piece.grad(), java.util.Arrays.copyOfRange(segment, piece.segmentOffset(),
          piece.segmentOffset() + len));
      be.adamw(piece.value(), piece.grad(), piece.m(), piece.v(), lr, beta1, beta2, eps,
          piece.param().decay() ? weightDecay : 0f, step);
      System.arraycopy(be.read(piece.value()), 0, updated, piece.segmentOffset(), len);
    }
    HostFlat.write(be, params.stream().map(Param::value).toList(), dp.allGather(updated, counts, trainingStep));
  }

  @Override
  public void close() {
    for (Piece p : pieces) {
      p.value().close();
      p.grad().close();
      p.m().close();
      p.v().close();
    }
  }
}
