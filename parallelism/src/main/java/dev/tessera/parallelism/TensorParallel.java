package dev.tessera.parallelism;

import dev.tessera.comm.Group;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Params;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.layers.Linear;
import dev.tessera.model.layers.LinearLayer;
import dev.tessera.model.layers.Region;
import dev.tessera.model.layers.VocabSplit;
import dev.tessera.model.Param;

/**
 * Megatron-style tensor parallelism over one tp group: a {@link LayerFactory} whose column-split
 * linears keep a slice of the output features and whose row-split linears keep a slice of the
 * input features and sum their outputs over the group, and the region mappings between them.
 * Each worker computes {@code heads / tp} attention heads and holds {@code 1 / tp} of the (padded)
 * vocabulary: embedding rows and logits ({@link VocabSplit}).
 */
public final class TensorParallel implements LayerFactory, VocabSplit, Region {
  private final Group group;
  private final boolean sequenceParallel;
  /** Host vectors of the all-reduces, used again at every layer and step (their sums are synchronous). */
  private final HostFlat.Spare spare = new HostFlat.Spare();
  private long step;
  /** The current batch's sequences and tokens per sequence (see {@link #batch}). */
  private int batch;
  private int seqLen;

  /** @param group this worker's tp group (its index is this worker's tp coordinate) */
  public TensorParallel(Group group) {
    this(group, false);
  }

  /**
   * @param sequenceParallel outside the region (norms, residuals, embeddings) each worker holds
   *     only its share of the tokens (Megatron's sequence parallelism)
   */
  public TensorParallel(Group group, boolean sequenceParallel) {
    this.group = group;
    this.sequenceParallel = sequenceParallel && group.size() > 1;
  }

  public boolean sequenceParallel() {
    return sequenceParallel;
  }

  public int size() {
    return group.size();
  }

  public int index() {
    return group.index();
  }

  /** Tags the next collectives with the training step (for error messages and frame keys). */
  public void step(long s) {
    this.step = s;
  }

  @Override
  public int localHeads(int heads) {
    if (heads % group.size() != 0) {
      throw new IllegalArgumentException("tp=" + group.size() + " does not divide the " + heads + " heads");
    }
    return heads / group.size();
  }

  /**
   * Column-split (outputs out/tp: rows of the full [out, in] weight, and of the bias) or row-split
   * (inputs in/tp: columns of the weight; the bias whole, added by worker 0 alone before the sum);
   * the communication is the region's ({@link #enter}, {@link #leave}).
   */
  @Override
  public LinearLayer linear(Params params, String name, int in, int out, boolean bias, float std, Split split) {
    int n = group.size();
    int i = group.index();
    return switch (split) {
      case NONE -> new Linear(params, name, in, out, bias, std);
      case COLUMN -> {
        if (out % n != 0) {
          throw new IllegalArgumentException(name + ": tp=" + n + " does not divide its " + out + " outputs");
        }
        yield new Linear(params.backend(), params.normalSlice(name + ".weight", std, 0, i, n, out, in),
            bias ? params.constantSlice(name + ".bias", 0f, 0, i, n, out) : null, true);
      }
      case ROW -> {
        if (in % n != 0) {
          throw new IllegalArgumentException(name + ": tp=" + n + " does not divide its " + in + " inputs");
        }
        yield new Linear(params.backend(), params.normalSlice(name + ".weight", std, 1, i, n, out, in),
            bias ? params.constant(name + ".bias", 0f, out) : null, i == 0);
      }
    };
  }

  @Override
  public Region region() {
    return this;
  }

  // ---- Region: Megatron's f (enter) and g (leave), with or without sequence parallelism ---------

  @Override
  public void batch(int b, int t) {
    if (sequenceParallel && (b * t) % group.size() != 0) {
      throw new IllegalArgumentException("sequence parallelism splits the batch's " + b + " x " + t + " tokens over tp="
          + group.size() + ", which does not divide them; use a batch whose sequences times block-size is a "
          + "multiple of " + group.size());
    }
    this.batch = b;
    this.seqLen = t;
  }

  @Override
  public int[] tokens(int b, int t) {
    if (!sequenceParallel) {
      return new int[] {0, b * t};
    }
    int share = b * t / group.size();
    return new int[] {group.index() * share, (group.index() + 1) * share};
  }

  @Override
  public Tensor enter(Backend be, Tensor x) {
    if (!sequenceParallel) {
      return x; // "copy to the region"
    }
    int width = x.shape().last();
    int[] counts = new int[group.size()];
    java.util.Arrays.fill(counts, x.size());
    return be.fromArray(group.allGather(be.read(x), counts, step), batch, seqLen, width);
  }

  @Override
  public Tensor enterGradient(Backend be, Tensor dx, Tensor regionInput) {
    return group.size() == 1 ? dx : be.zeros(regionInput.shape().toArray());
  }

  @Override
  public void enterBackward(Backend be, Tensor dIn, Tensor dx) {
    if (dIn == dx) {
      return;
    }
    try (dIn) {
      float[] h = spare.take(dIn.size());
      be.read(dIn, h, 0);
      float[] summed = h;
      if (sequenceParallel) {
        summed = group.reduceScatter(h, step);
      } else {
        group.allReduce(h, step);
      }
      try (Tensor sum = be.fromArray(summed, dx.shape().toArray())) {
        be.add(dx, dx, sum);
      }
      spare.give(h);
    }
  }

  @Override
  public Tensor leave(Backend be, Tensor y) {
    if (group.size() == 1) {
      return y;
    }
    if (!sequenceParallel) {
      allReduce(be, y); // "reduce from the region"
      return y;
    }
    try (y) {
      float[] mine = group.reduceScatter(be.read(y), step);
      return be.fromArray(mine, mine.length / y.shape().last(), y.shape().last());
    }
  }

  @Override
  public Tensor leaveBackward(Backend be, Tensor dy) {
    return enter(be, dy); // identity, or the all-gather of every worker's tokens
  }

  @Override
  public void sumTokenGrads(Backend be, java.util.List<Param> params) {
    if (!sequenceParallel || params.isEmpty()) {
      return;
    }
    java.util.List<Tensor> grads = params.stream().map(Param::grad).toList();
    float[] flat = HostFlat.read(be, grads);
    group.allReduce(flat, step); // one collective for all of them
    HostFlat.write(be, grads, flat);
  }


  @Override
  public VocabSplit vocab() {
    return this;
  }

  @Override
  public int parts() {
    return group.size();
  }

  @Override
  public void sum(Backend be, Tensor x) {
    allReduce(be, x);
  }

  @Override
  public void sum(float[] x) {
    if (group.size() > 1) {
      group.allReduce(x, step);
    }
  }

  @Override
  public float[] gather(float[] x) {
    if (group.size() == 1) {
      return x.clone();
    }
    int[] counts = new int[group.size()];
    java.util.Arrays.fill(counts, x.length);
    return group.allGather(x, counts, step);
  }

  // ---- scatter to / gather from the region along the features (Megatron's other pair) ------------

  /**
   * Forward of "scatter to the region": this worker's slice of x's last dimension (x [..., C], C a
   * multiple of tp) as a new tensor; the backward is {@link #gatherFromRegion}. x itself on a group of one.
   */
  public Tensor scatterToRegion(Backend be, Tensor x) {
    if (group.size() == 1) {
      return x;
    }
    int width = x.shape().last();
    if (width % group.size() != 0) {
      throw new IllegalArgumentException("tp=" + group.size() + " does not divide the last dimension of " + x);
    }
    int part = width / group.size();
    float[] all = be.read(x);
    int rows = all.length / width;
    float[] mine = new float[rows * part];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(all, r * width + group.index() * part, mine, r * part, part);
    }
    int[] dims = x.shape().toArray();
    dims[dims.length - 1] = part;
    return be.fromArray(mine, dims);
  }

  /**
   * Forward of "gather from the region": every worker's x [..., c] side by side along the last
   * dimension ([..., c * tp]) as a new tensor; the backward is {@link #scatterToRegion}. x itself on a
   * group of one.
   */
  public Tensor gatherFromRegion(Backend be, Tensor x) {
    if (group.size() == 1) {
      return x;
    }
    int part = x.shape().last();
    int n = group.size();
    float[] parts = gather(be.read(x)); // worker after worker
    int rows = x.size() / part;
    float[] out = new float[rows * part * n];
    for (int w = 0; w < n; w++) {
      for (int r = 0; r < rows; r++) {
        System.arraycopy(parts, w * rows * part + r * part, out, r * part * n + w * part, part);
      }
    }
    int[] dims = x.shape().toArray();
    dims[dims.length - 1] = part * n;
    return be.fromArray(out, dims);
  }

  /** Returns when every worker of the tp group has called it (a checkpoint's files are all written). */
  public void barrier() {
    group.barrier(step);
  }

  /** x summed over the tp group. */
  double sumScalar(double x) {
    if (group.size() == 1) {
      return x;
    }
    float[] v = {(float) x};
    group.allReduce(v, step);
    return v[0];
  }

  /**
   * t = the sum of t over the group, in place: the forward of "reduce from the tp region" and the
   * backward of "copy to the tp region". Goes through host memory for now.
   */
  void allReduce(Backend be, Tensor t) {
    if (group.size() == 1) {
      return;
    }
    float[] h = spare.take(t.size());
    be.read(t, h, 0);
    group.allReduce(h, step);
    be.write(t, h);
    spare.give(h);
  }
}
