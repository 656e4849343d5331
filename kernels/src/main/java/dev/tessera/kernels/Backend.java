package dev.tessera.kernels;

/**
 * The compute layer: tensors and the ops of a transformer, each forward op with its backward.
 *
 * <p>Conventions, as in llm.c: outputs come first; every buffer's shape is written down; backward
 * ops <b>accumulate</b> into every gradient they produce ({@code +=}), so callers zero gradients
 * once per step. Shapes are row-major; {@code [rows, C]} means "any leading dimensions, last C".
 * A shape, type or owner that does not fit throws {@link ShapeException} naming the op and shapes.
 *
 * <p>Implementations: {@code ReferenceBackend} (plain loops, the test oracle), {@code
 * ThreadPoolBackend} (parallel Java) and {@code OpenClBackend} (Aparapi; tensors stay in device
 * memory). {@link Backends#create} picks one.
 */
public interface Backend extends AutoCloseable {

  /** What runs the ops, for logs and reports, e.g. "OpenCL CPU: pthread-skylake (Portable Computing Language)". */
  String describe();

  DeviceKind kind();

  /**
   * The most device memory this backend's tensors have taken at once, in bytes (its arenas' peak
   * use), or 0 where tensors live in the Java heap as ordinary arrays.
   */
  default long peakDeviceBytes() {
    return 0;
  }

  // ---- memory -------------------------------------------------------------------------------

  /** A new tensor of zeros. */
  Tensor allocate(DType dtype, Shape shape);

  /**
   * A new tensor whose contents are unspecified: for outputs that the next op overwrites entirely
   * (it saves a fill on devices where allocation does not zero). Backends may return zeros.
   */
  default Tensor empty(DType dtype, Shape shape) {
    return allocate(dtype, shape);
  }

  default Tensor zeros(int... dims) {
    return allocate(DType.F32, Shape.of(dims));
  }

  /** Copies host data into a new tensor of the given shape. */
  default Tensor fromArray(float[] data, int... dims) {
    Tensor t = allocate(DType.F32, Shape.of(dims));
    write(t, data);
    return t;
  }

  default Tensor fromInts(int[] data, int... dims) {
    Tensor t = allocate(DType.I32, Shape.of(dims));
    writeInts(t, data);
    return t;
  }

  /** Host to device: {@code src.length} must equal the tensor's size. */
  void write(Tensor dst, float[] src);

  void writeInts(Tensor dst, int[] src);

  /** Device to host. */
  float[] read(Tensor src);

  /**
   * Host to device from {@code src[from, from + dst.size())}: one tensor of a flat vector (a
   * collective's gradients) without a copy of its part.
   */
  void write(Tensor dst, float[] src, int from);

  /** Device to host into {@code dst[at, at + src.size())}, the rest of {@code dst} untouched. */
  void read(Tensor src, float[] dst, int at);

  int[] readInts(Tensor src);

  /** Reads a one-element tensor (a loss, a norm). */
  default float readScalar(Tensor src) {
    return read(src)[0];
  }

  /**
   * The same elements seen with another shape (same size): no copy. The view does not own the
   * storage: closing it frees nothing, and it must not be used after {@code t} is closed.
   */
  Tensor view(Tensor t, int... dims);

  /** Whether {@link #slice} works here (device backends whose tensors sit at offsets in one store). */
  default boolean canSlice() {
    return false;
  }

  /**
   * Elements {@code [offset, offset + size)} of {@code t} seen as a tensor of {@code dims}: no copy;
   * like a {@link #view}, the slice frees nothing and must not outlive {@code t}. Lets many small
   * tensors live back to back in one, so that an op over all of them is one launch.
   *
   * @throws UnsupportedOperationException where {@link #canSlice} is false
   */
  Tensor slice(Tensor t, long offset, int... dims);

  /** dst = src (same shape and type). */
  void copy(Tensor dst, Tensor src);

  /** Every element of x set to value. */
  void fill(Tensor x, float value);

  /** Waits until every op issued so far has finished (for timing). */
  void sync();

  @Override
  void close();

  // ---- linear algebra -------------------------------------------------------------------------

  /**
   * out = alpha * op(a) x op(b) + beta * out, where op transposes its operand when the flag is set.
   * Shapes: 2-D: a [M,K] ([K,M] if transA), b [K,N] ([N,K] if transB), out [M,N]. Batched: every
   * operand 3-D with the same leading batch. Folded (linear layers): out 2-D and a, b of any rank
   * are read as [rows, last]; or b 2-D, a and out of equal rank are read as [rows, last].
   * With beta 0, out's old contents are ignored (even NaN).
   */
  void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta);

  default void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB) {
    matmul(out, a, b, transA, transB, 1f, 0f);
  }

  /**
   * Backward of {@code c = op(a) x op(b)}: dA += dC-derived gradient, dB likewise. Either gradient
   * may be null when it is not needed.
   */
  default void matmulBackward(Tensor dA, Tensor dB, Tensor dC, Tensor a, Tensor b, boolean transA, boolean transB) {
    if (dA != null) {
      if (transA) {
        matmul(dA, b, dC, transB, true, 1f, 1f);
      } else {
        matmul(dA, dC, b, false, !transB, 1f, 1f);
      }
    }
    if (dB != null) {
      if (transB) {
        matmul(dB, dC, a, true, transA, 1f, 1f);
      } else {
        matmul(dB, a, dC, !transA, false, 1f, 1f);
      }
    }
  }

  // ---- element-wise and reductions ------------------------------------------------------------

  /** out = a + b, all the same shape (out may be a or b). */
  void add(Tensor out, Tensor a, Tensor b);

  /** out [rows, C] = x [rows, C] + bias [C]. */
  void addBias(Tensor out, Tensor x, Tensor bias);

  /** dBias [C] += sum over rows of dOut [rows, C]. */
  void addBiasBackward(Tensor dBias, Tensor dOut);

  /** x *= alpha, in place. */
  void scale(Tensor x, float alpha);

  /** y += alpha * x, in place (same shapes). */
  void axpy(Tensor y, float alpha, Tensor x);

  /** out [1] = sum of x's elements. */
  void sum(Tensor out, Tensor x);

  /** out [1] = sum of x's squared elements (for gradient norms). */
  void sumSquares(Tensor out, Tensor x);

  // ---- normalisation and activations ----------------------------------------------------------

  /**
   * LayerNorm over the last dimension. out, x [rows, C]; weight, bias [C] (bias may be null);
   * saves mean, rstd [rows] for backward.
   */
  void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps);

  /** dx, dOut, x [rows, C]; dWeight, dBias [C] (dBias null when there is no bias); mean, rstd [rows]. */
  void layerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd);

  /** RMSNorm over the last dimension: out = x / rms(x) * weight. out, x [rows, C]; weight [C]; saves rstd [rows]. */
  void rmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps);

  void rmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd);

  /** GELU, tanh approximation (as GPT-2). out, x same shape. */
  void gelu(Tensor out, Tensor x);

  /** dx = dOut times GELU's derivative at x: dx is overwritten (its old contents, even NaN, are ignored). */
  void geluBackward(Tensor dx, Tensor dOut, Tensor x);

  /** SwiGLU: out = silu(gate) * up, all the same shape. */
  void swiglu(Tensor out, Tensor gate, Tensor up);

  void swigluBackward(Tensor dGate, Tensor dUp, Tensor dOut, Tensor gate, Tensor up);

  // ---- positions ------------------------------------------------------------------------------

  /**
   * Rotary position embedding (interleaved pairs, as in Llama): for position t and pair i,
   * (x[2i], x[2i+1]) is rotated by the angle t * freqs[i]. x, out [B, T, H, D] (D even); freqs
   * [D/2], usually base^(-2i/D).
   */
  void rope(Tensor out, Tensor x, Tensor freqs);

  /** dx += the inverse rotation of dOut. */
  void ropeBackward(Tensor dx, Tensor dOut, Tensor freqs);

  // ---- attention ------------------------------------------------------------------------------

  /**
   * Fused causal multi-head attention, softmax(q k^T / sqrt(D)) v, without materialising the
   * attention matrix. q, k, v, out [B, T, H, D]; saves the softmax log-sum-exp lse [B, H, T].
   */
  void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v);

  /**
   * Recomputes the probabilities from q, k and lse. All of q, k, v, out, their gradients [B, T, H, D].
   * dq, dk and dv are overwritten (their old contents, even NaN, are ignored): fresh gradients need no
   * zeroing first.
   */
  void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor out, Tensor lse);

  // ---- embeddings and loss --------------------------------------------------------------------

  /** out [..., C] = table [V, C] rows picked by ids (int32) [...]. */
  void embedding(Tensor out, Tensor table, Tensor ids);

  /** dTable [V, C] += dOut [..., C] scattered by ids [...]. */
  void embeddingBackward(Tensor dTable, Tensor dOut, Tensor ids);

  /**
   * Softmax cross-entropy per row. logits [N, V]; targets int32 [N] (a negative target is ignored:
   * loss 0, gradient 0); losses [N]; saves lse [N].
   */
  void crossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets);

  /** dLogits [N, V] += lossScale * (softmax(logits) - onehot(targets)). */
  void crossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale);

  // ---- a shard of the vocabulary (vocab-parallel embedding and cross-entropy) ---------------------

  /**
   * {@link #embedding} from a shard of the table: its rows are the ids {@code [firstId, firstId + V)};
   * other ids give zero rows, so the shards' outputs sum to the whole table's.
   */
  void embeddingShard(Tensor out, Tensor table, Tensor ids, int firstId);

  /** {@link #embeddingBackward} into a shard of the table (ids outside it are skipped). */
  void embeddingShardBackward(Tensor dTable, Tensor dOut, Tensor ids, int firstId);

  /**
   * {@link #crossEntropy} over a shard of the classes, logits [N, V] being classes {@code [first,
   * first + V)}: lse is this shard's log-sum-exp; losses[r] is {@code lse[r] - logit of the target}
   * where this shard holds the target, else 0. The whole loss follows from every shard's two values
   * (the log-sum-exp of the shards' lse, minus the target's logit).
   */
  void crossEntropyShard(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first);

  /**
   * {@link #crossEntropyBackward} over a shard of the classes, with {@code lse} the log-sum-exp over
   * every shard: dLogits += lossScale * (softmax - one-hot), the one-hot only where this shard holds
   * the target; rows with negative targets are skipped.
   */
  void crossEntropyShardBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale,
      int first);

  // ---- optimiser ------------------------------------------------------------------------------

  /**
   * AdamW step in place (decoupled weight decay): m, v are the moment buffers; {@code step} counts
   * from 1 for bias correction. param, grad, m, v share one shape.
   */
  void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
      float weightDecay, int step);
}
