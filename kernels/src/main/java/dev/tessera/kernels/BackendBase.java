package dev.tessera.kernels;

/**
 * Checks every op's arguments once, for all backends, then hands over to the implementation. The
 * checks name the op and the shapes; implementations may assume valid input.
 */
public abstract class BackendBase implements Backend {

  // ---- checks ---------------------------------------------------------------------------------

  protected final void own(String op, Tensor... ts) {
    for (Tensor t : ts) {
      if (t == null) {
        continue;
      }
      if (t.backend() != this) {
        throw new ShapeException(op, "tensor " + t + " belongs to another backend (" + t.backend().describe() + ")");
      }
      if (t.isClosed()) {
        throw new ShapeException(op, "tensor " + t + " was closed");
      }
    }
  }

  private static void f32(String op, Tensor... ts) {
    for (Tensor t : ts) {
      if (t != null && t.dtype() != DType.F32) {
        throw new ShapeException(op, "expected f32 tensors, got " + t);
      }
    }
  }

  private static void same(String op, Tensor ref, Tensor... ts) {
    for (Tensor t : ts) {
      if (t != null && !t.shape().equals(ref.shape())) {
        throw new ShapeException(op, "shapes differ: " + ref.shape() + " vs " + t.shape());
      }
    }
  }

  private static void shape(String op, String name, Tensor t, int... dims) {
    if (!t.shape().equals(Shape.of(dims))) {
      throw new ShapeException(op, name + " must be " + Shape.of(dims) + ", got " + t.shape());
    }
  }

  private static void size(String op, String name, Tensor t, int n) {
    if (t.size() != n) {
      throw new ShapeException(op, name + " must hold " + n + " elements, got " + t.shape());
    }
  }

  private void elementwise(String op, Tensor ref, Tensor... ts) {
    own(op, ref);
    own(op, ts);
    f32(op, ref);
    f32(op, ts);
    same(op, ref, ts);
  }

  // ---- memory ---------------------------------------------------------------------------------

  @Override
  public final void write(Tensor dst, float[] src) {
    own("write", dst);
    f32("write", dst);
    if (src.length != dst.size()) {
      throw new ShapeException("write", "array of " + src.length + " floats into " + dst);
    }
    doWrite(dst, src);
  }

  @Override
  public final void writeInts(Tensor dst, int[] src) {
    own("writeInts", dst);
    if (dst.dtype() != DType.I32 || src.length != dst.size()) {
      throw new ShapeException("writeInts", "array of " + src.length + " ints into " + dst);
    }
    doWriteInts(dst, src);
  }

  @Override
  public final float[] read(Tensor src) {
    own("read", src);
    f32("read", src);
    return doRead(src);
  }

  @Override
  public final void write(Tensor dst, float[] src, int from) {
    own("write", dst);
    f32("write", dst);
    if (from < 0 || (long) from + dst.size() > src.length) {
      throw new ShapeException("write", "floats [" + from + ", " + ((long) from + dst.size()) + ") of an array of "
          + src.length + " into " + dst);
    }
    doWrite(dst, src, from);
  }

  @Override
  public final void read(Tensor src, float[] dst, int at) {
    own("read", src);
    f32("read", src);
    if (at < 0 || (long) at + src.size() > dst.length) {
      throw new ShapeException("read", src + " into floats [" + at + ", " + ((long) at + src.size())
          + ") of an array of " + dst.length);
    }
    doRead(src, dst, at);
  }

  @Override
  public final int[] readInts(Tensor src) {
    own("readInts", src);
    if (src.dtype() != DType.I32) {
      throw new ShapeException("readInts", "expected an i32 tensor, got " + src);
    }
    return doReadInts(src);
  }

  @Override
  public final void copy(Tensor dst, Tensor src) {
    own("copy", dst, src);
    if (dst.dtype() != src.dtype() || !dst.shape().equals(src.shape())) {
      throw new ShapeException("copy", dst + " <- " + src);
    }
    doCopy(dst, src);
  }

  @Override
  public final Tensor view(Tensor t, int... dims) {
    own("view", t);
    Shape s = Shape.of(dims);
    if (s.size() != t.size()) {
      throw new ShapeException("view", "cannot view " + t + " as " + s + ": sizes differ");
    }
    return doView(t, s);
  }

  @Override
  public final Tensor slice(Tensor t, long offset, int... dims) {
    own("slice", t);
    Shape s = Shape.of(dims);
    if (offset < 0 || offset + s.size() > t.size()) {
      throw new ShapeException("slice", "elements [" + offset + ", " + (offset + s.size()) + ") are not inside " + t);
    }
    if (!canSlice()) {
      throw new UnsupportedOperationException(describe() + " cannot slice tensors (its tensors own their arrays)");
    }
    return doSlice(t, (int) offset, s);
  }

  /** Only for backends whose {@link #canSlice} is true. */
  protected Tensor doSlice(Tensor t, int offset, Shape shape) {
    throw new UnsupportedOperationException("slice");
  }

  @Override
  public final void fill(Tensor x, float value) {
    elementwise("fill", x);
    doFill(x, value);
  }

  protected abstract void doWrite(Tensor dst, float[] src);

  protected abstract void doWriteInts(Tensor dst, int[] src);

  protected abstract float[] doRead(Tensor src);

  protected abstract int[] doReadInts(Tensor src);

  /** A part of an array to the device; by default through a copy of that part. */
  protected void doWrite(Tensor dst, float[] src, int from) {
    doWrite(dst, from == 0 && src.length == dst.size() ? src
        : java.util.Arrays.copyOfRange(src, from, from + dst.size()));
  }

  /** The device into a part of an array; by default through a whole read. */
  protected void doRead(Tensor src, float[] dst, int at) {
    System.arraycopy(doRead(src), 0, dst, at, src.size());
  }

  protected abstract void doCopy(Tensor dst, Tensor src);

  protected abstract void doFill(Tensor x, float value);

  protected abstract Tensor doView(Tensor t, Shape shape);

  // ---- ops ------------------------------------------------------------------------------------

  @Override
  public final void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta) {
    own("matmul", out, a, b);
    f32("matmul", out, a, b);
    if (out == a || out == b) {
      throw new ShapeException("matmul", "out must not alias an input");
    }
    doMatmul(out, a, b, MatmulDims.of(out.shape(), a.shape(), b.shape(), transA, transB), alpha, beta);
  }

  @Override
  public final void add(Tensor out, Tensor a, Tensor b) {
    elementwise("add", out, a, b);
    doAdd(out, a, b);
  }

  @Override
  public final void addBias(Tensor out, Tensor x, Tensor bias) {
    elementwise("addBias", out, x);
    own("addBias", bias);
    f32("addBias", bias);
    shape("addBias", "bias", bias, x.shape().last());
    doAddBias(out, x, bias);
  }

  @Override
  public final void addBiasBackward(Tensor dBias, Tensor dOut) {
    own("addBiasBackward", dBias, dOut);
    f32("addBiasBackward", dBias, dOut);
    shape("addBiasBackward", "dBias", dBias, dOut.shape().last());
    doAddBiasBackward(dBias, dOut);
  }

  @Override
  public final void scale(Tensor x, float alpha) {
    elementwise("scale", x);
    doScale(x, alpha);
  }

  @Override
  public final void axpy(Tensor y, float alpha, Tensor x) {
    elementwise("axpy", y, x);
    doAxpy(y, alpha, x);
  }

  @Override
  public final void sum(Tensor out, Tensor x) {
    own("sum", out, x);
    f32("sum", out, x);
    size("sum", "out", out, 1);
    doSum(out, x, false);
  }

  @Override
  public final void sumSquares(Tensor out, Tensor x) {
    own("sumSquares", out, x);
    f32("sumSquares", out, x);
    size("sumSquares", "out", out, 1);
    doSum(out, x, true);
  }

  @Override
  public final void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
    elementwise("layerNorm", x, out);
    own("layerNorm", mean, rstd, weight, bias);
    f32("layerNorm", mean, rstd, weight, bias);
    int c = x.shape().last();
    shape("layerNorm", "weight", weight, c);
    if (bias != null) {
      shape("layerNorm", "bias", bias, c);
    }
    size("layerNorm", "mean", mean, x.shape().rows());
    size("layerNorm", "rstd", rstd, x.shape().rows());
    doLayerNorm(out, mean, rstd, x, weight, bias, eps);
  }

  @Override
  public final void layerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd) {
    elementwise("layerNormBackward", x, dx, dOut);
    own("layerNormBackward", dWeight, dBias, weight, mean, rstd);
    f32("layerNormBackward", dWeight, dBias, weight, mean, rstd);
    int c = x.shape().last();
    shape("layerNormBackward", "weight", weight, c);
    shape("layerNormBackward", "dWeight", dWeight, c);
    if (dBias != null) {
      shape("layerNormBackward", "dBias", dBias, c);
    }
    size("layerNormBackward", "mean", mean, x.shape().rows());
    size("layerNormBackward", "rstd", rstd, x.shape().rows());
    doLayerNormBackward(dx, dWeight, dBias, dOut, x, weight, mean, rstd);
  }

  @Override
  public final void rmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
    elementwise("rmsNorm", x, out);
    own("rmsNorm", rstd, weight);
    f32("rmsNorm", rstd, weight);
    shape("rmsNorm", "weight", weight, x.shape().last());
    size("rmsNorm", "rstd", rstd, x.shape().rows());
    doRmsNorm(out, rstd, x, weight, eps);
  }

  @Override
  public final void rmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd) {
    elementwise("rmsNormBackward", x, dx, dOut);
    own("rmsNormBackward", dWeight, weight, rstd);
    f32("rmsNormBackward", dWeight, weight, rstd);
    shape("rmsNormBackward", "weight", weight, x.shape().last());
    shape("rmsNormBackward", "dWeight", dWeight, x.shape().last());
    size("rmsNormBackward", "rstd", rstd, x.shape().rows());
    doRmsNormBackward(dx, dWeight, dOut, x, weight, rstd);
  }

  @Override
  public final void gelu(Tensor out, Tensor x) {
    elementwise("gelu", x, out);
    doGelu(out, x);
  }

  @Override
  public final void geluBackward(Tensor dx, Tensor dOut, Tensor x) {
    elementwise("geluBackward", x, dx, dOut);
    doGeluBackward(dx, dOut, x);
  }

  @Override
  public final void swiglu(Tensor out, Tensor gate, Tensor up) {
    elementwise("swiglu", gate, up, out);
    doSwiglu(out, gate, up);
  }

  @Override
  public final void swigluBackward(Tensor dGate, Tensor dUp, Tensor dOut, Tensor gate, Tensor up) {
    elementwise("swigluBackward", gate, up, dGate, dUp, dOut);
    doSwigluBackward(dGate, dUp, dOut, gate, up);
  }

  @Override
  public final void rope(Tensor out, Tensor x, Tensor freqs) {
    ropeShapes("rope", x, freqs);
    elementwise("rope", x, out);
    doRope(out, x, freqs, false);
  }

  @Override
  public final void ropeBackward(Tensor dx, Tensor dOut, Tensor freqs) {
    ropeShapes("ropeBackward", dOut, freqs);
    elementwise("ropeBackward", dOut, dx);
    doRope(dx, dOut, freqs, true);
  }

  private void ropeShapes(String op, Tensor x, Tensor freqs) {
    own(op, freqs);
    f32(op, freqs);
    if (x.shape().rank() != 4 || x.shape().last() % 2 != 0) {
      throw new ShapeException(op, "x must be [B, T, H, D] with D even, got " + x.shape());
    }
    shape(op, "freqs", freqs, x.shape().last() / 2);
  }

  @Override
  public final void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    attentionShapes("attention", q);
    elementwise("attention", q, k, v, out);
    own("attention", lse);
    f32("attention", lse);
    Shape s = q.shape();
    shape("attention", "lse", lse, s.dim(0), s.dim(2), s.dim(1));
    doAttention(out, lse, q, k, v);
  }

  @Override
  public final void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor out, Tensor lse) {
    attentionShapes("attentionBackward", q);
    elementwise("attentionBackward", q, k, v, out, dq, dk, dv, dOut);
    own("attentionBackward", lse);
    f32("attentionBackward", lse);
    Shape s = q.shape();
    shape("attentionBackward", "lse", lse, s.dim(0), s.dim(2), s.dim(1));
    doAttentionBackward(dq, dk, dv, dOut, q, k, v, out, lse);
  }

  private static void attentionShapes(String op, Tensor q) {
    if (q.shape().rank() != 4) {
      throw new ShapeException(op, "q, k, v must be [B, T, H, D], got q" + q.shape());
    }
  }

  @Override
  public final void embedding(Tensor out, Tensor table, Tensor ids) {
    embeddingShapes("embedding", out, table, ids);
    doEmbedding(out, table, ids, 0, true);
  }

  @Override
  public final void embeddingShard(Tensor out, Tensor table, Tensor ids, int firstId) {
    embeddingShapes("embeddingShard", out, table, ids);
    doEmbedding(out, table, ids, firstId, false);
  }

  @Override
  public final void embeddingShardBackward(Tensor dTable, Tensor dOut, Tensor ids, int firstId) {
    embeddingShapes("embeddingShardBackward", dOut, dTable, ids);
    doEmbeddingBackward(dTable, dOut, ids, firstId, false);
  }

  @Override
  public final void embeddingBackward(Tensor dTable, Tensor dOut, Tensor ids) {
    embeddingShapes("embeddingBackward", dOut, dTable, ids);
    doEmbeddingBackward(dTable, dOut, ids, 0, true);
  }

  private void embeddingShapes(String op, Tensor out, Tensor table, Tensor ids) {
    own(op, out, table, ids);
    f32(op, out, table);
    if (ids.dtype() != DType.I32) {
      throw new ShapeException(op, "ids must be i32, got " + ids);
    }
    if (table.shape().rank() != 2 || out.shape().last() != table.shape().last() || out.shape().rows() != ids.size()) {
      throw new ShapeException(op, "expected table [V, C], ids [...], out [..., C]; got table" + table.shape()
          + " ids" + ids.shape() + " out" + out.shape());
    }
  }

  @Override
  public final void crossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets) {
    crossEntropyShapes("crossEntropy", logits, targets, lse);
    own("crossEntropy", losses);
    f32("crossEntropy", losses);
    size("crossEntropy", "losses", losses, logits.shape().rows());
    doCrossEntropy(losses, lse, logits, targets, 0, true);
  }

  @Override
  public final void crossEntropyShard(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first) {
    crossEntropyShapes("crossEntropyShard", logits, targets, lse);
    own("crossEntropyShard", losses);
    f32("crossEntropyShard", losses);
    size("crossEntropyShard", "losses", losses, logits.shape().rows());
    doCrossEntropy(losses, lse, logits, targets, first, false);
  }

  @Override
  public final void crossEntropyShardBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse,
      float lossScale, int first) {
    crossEntropyShapes("crossEntropyShardBackward", logits, targets, lse);
    elementwise("crossEntropyShardBackward", logits, dLogits);
    doCrossEntropyBackward(dLogits, logits, targets, lse, lossScale, first);
  }

  @Override
  public final void crossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale) {
    crossEntropyShapes("crossEntropyBackward", logits, targets, lse);
    elementwise("crossEntropyBackward", logits, dLogits);
    doCrossEntropyBackward(dLogits, logits, targets, lse, lossScale, 0);
  }

  private void crossEntropyShapes(String op, Tensor logits, Tensor targets, Tensor lse) {
    own(op, logits, targets, lse);
    f32(op, logits, lse);
    if (targets.dtype() != DType.I32) {
      throw new ShapeException(op, "targets must be i32, got " + targets);
    }
    int n = logits.shape().rows();
    if (targets.size() != n || lse.size() != n) {
      throw new ShapeException(op, "logits [N, V] with N = " + n + " needs targets and lse of N elements; got targets"
          + targets.shape() + " lse" + lse.shape());
    }
  }

  @Override
  public final void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
      float eps, float weightDecay, int step) {
    elementwise("adamw", param, grad, m, v);
    if (step < 1) {
      throw new ShapeException("adamw", "step counts from 1, got " + step);
    }
    doAdamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
  }

  protected abstract void doMatmul(Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta);

  protected abstract void doAdd(Tensor out, Tensor a, Tensor b);

  protected abstract void doAddBias(Tensor out, Tensor x, Tensor bias);

  protected abstract void doAddBiasBackward(Tensor dBias, Tensor dOut);

  protected abstract void doScale(Tensor x, float alpha);

  protected abstract void doAxpy(Tensor y, float alpha, Tensor x);

  protected abstract void doSum(Tensor out, Tensor x, boolean squares);

  protected abstract void doLayerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias,
      float eps);

  protected abstract void doLayerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x,
      Tensor weight, Tensor mean, Tensor rstd);

  protected abstract void doRmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps);

  protected abstract void doRmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight,
      Tensor rstd);

  protected abstract void doGelu(Tensor out, Tensor x);

  protected abstract void doGeluBackward(Tensor dx, Tensor dOut, Tensor x);

  protected abstract void doSwiglu(Tensor out, Tensor gate, Tensor up);

  protected abstract void doSwigluBackward(Tensor dGate, Tensor dUp, Tensor dOut, Tensor gate, Tensor up);

  /** Rotates pairs of x by +angle into out (backward = false), or adds the -angle rotation into out. */
  protected abstract void doRope(Tensor out, Tensor x, Tensor freqs, boolean backward);

  protected abstract void doAttention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v);

  protected abstract void doAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k,
      Tensor v, Tensor out, Tensor lse);

  /**
   * Rows of {@code table} are ids [first, first + V). Strict (the whole table): an id outside is an
   * error where the backend can check it; else (a shard) it gives a zero row.
   */
  protected abstract void doEmbedding(Tensor out, Tensor table, Tensor ids, int first, boolean strict);

  /** As {@link #doEmbedding}: ids outside the table are an error (strict) or skipped. */
  protected abstract void doEmbeddingBackward(Tensor dTable, Tensor dOut, Tensor ids, int first, boolean strict);

  /**
   * Logits are classes [first, first + V). Strict: a target at or past V is an error where the
   * backend can check it; else a target outside the shard gives a loss of 0.
   */
  protected abstract void doCrossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first,
      boolean strict);

  /** Logits are classes [first, first + V); the one-hot only where the target is among them. */
  protected abstract void doCrossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse,
      float lossScale, int first);

  protected abstract void doAdamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
      float eps, float weightDecay, int step);
}
