package dev.tessera.model.layers;

import dev.tessera.kernels.Tensor;

/** A linear layer: the one place a tensor-parallel layout changes (column or row sharding). */
public interface LinearLayer {
  /** Returns y for x [..., in]; the caller owns y and keeps x alive for backward. */
  Tensor forward(Tensor x);

  /** dx += the input gradient for dy; the parameter gradients accumulate. */
  void backward(Tensor x, Tensor dy, Tensor dx);

  /**
   * As {@link #backward}, but dx = the input gradient: dx is overwritten (its old contents, even NaN,
   * are ignored), so a fresh dx needs no zeroing first; the parameter gradients still accumulate.
   */
  void backwardOver(Tensor x, Tensor dy, Tensor dx);
}
