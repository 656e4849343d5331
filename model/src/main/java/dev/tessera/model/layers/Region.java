package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import java.util.List;
import dev.tessera.model.Param;

/**
 * The tensor-parallel region around attention and the MLP (Megatron's f and g operators): how
 * activations enter the column-split layers and leave the row-split ones, forward and backward.
 * With tensor parallelism alone, entering is a copy (its backward sums the gradient over the
 * group) and leaving sums over the group (its backward is a copy). With sequence parallelism the
 * activations outside the region hold only this worker's share of the tokens: entering all-gathers
 * them (backward: reduce-scatter) and leaving reduce-scatters (backward: all-gather). On one
 * worker ({@link #NONE}) every mapping is the identity.
 *
 * <p>Tokens are the batch's B x T rows taken in order; under sequence parallelism worker i holds
 * rows [i * n, (i + 1) * n), n = B * T / tp, as a [n, C] tensor. (Megatron splits the sequence
 * dimension of its [T, B, C] layout: the same for the per-token ops outside the region.)
 */
public interface Region {
  /** One worker: every mapping is the identity. */
  Region NONE = new Region() {
  };

  /** Starts a forward pass over a batch of b sequences of t tokens. */
  default void batch(int b, int t) {
  }

  /** This worker's rows [from, to) of the flattened b x t tokens (all of them unless sequence parallel). */
  default int[] tokens(int b, int t) {
    return new int[] {0, b * t};
  }

  /** Forward into the region: x itself, or a new [B, T, C] tensor the caller owns. */
  default Tensor enter(Backend be, Tensor x) {
    return x;
  }

  /**
   * The tensor the region's input gradient accumulates in, for {@link #enterBackward}: dx itself
   * where entering is the identity, else a new zero tensor of {@code regionInput}'s shape.
   */
  default Tensor enterGradient(Backend be, Tensor dx, Tensor regionInput) {
    return dx;
  }

  /** Backward of {@link #enter}: dx += dIn summed over the group (this worker's tokens of it); closes dIn. */
  default void enterBackward(Backend be, Tensor dIn, Tensor dx) {
  }

  /** Forward out of the region: y summed over the group (this worker's tokens of it); y or a new tensor. */
  default Tensor leave(Backend be, Tensor y) {
    return y;
  }

  /** Backward of {@link #leave}: the gradient of the whole region output, dy itself or a new tensor. */
  default Tensor leaveBackward(Backend be, Tensor dy) {
    return dy;
  }

  /**
   * Whether a row-split layer adds its bias here (the bias is added once: to one worker's partial
   * output, before the sum).
   */
  default boolean addsRowBias() {
    return true;
  }

  /**
   * Sums over the group the gradients of these parameters, replicated on every worker but used
   * only on its own tokens (under sequence parallelism: norms, position embeddings).
   */
  default void sumTokenGrads(Backend be, List<Param> params) {
  }
}
