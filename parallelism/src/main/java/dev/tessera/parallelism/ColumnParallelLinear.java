package dev.tessera.parallelism;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.layers.Linear;
import dev.tessera.model.layers.LinearLayer;

/**
 * y_local = x W_local^T + b_local, with W split by output features over tp (rows out/tp x in of the
 * full [out, in] weight) and x replicated. The input enters the tp region by "copy" (identity
 * forward), so backward sums the input gradient over the group.
 */
final class ColumnParallelLinear implements LinearLayer {
  private final TensorParallel tp;
  private final Backend be;
  private final Param weight;
  private final Param bias;
  private final int localOut;

  ColumnParallelLinear(TensorParallel tp, Params params, String name, int in, int out, boolean bias, float std) {
    if (out % tp.size() != 0) {
      throw new IllegalArgumentException(name + ": tp=" + tp.size() + " does not divide its " + out + " outputs");
    }
    this.tp = tp;
    this.be = params.backend();
    this.localOut = out / tp.size();
    this.weight = params.normalSlice(name + ".weight", std, 0, tp.index(), tp.size(), out, in);
    this.bias = bias ? params.constantSlice(name + ".bias", 0f, 0, tp.index(), tp.size(), out) : null;
  }

  @Override
  public Tensor forward(Tensor x) {
    Tensor y = Linear.project(be, x, weight.value(), localOut);
    if (bias != null) {
      be.addBias(y, y, bias.value());
    }
    return y;
  }

  @Override
  public void backward(Tensor x, Tensor dy, Tensor dx) {
    try (Tensor partial = be.zeros(dx.shape().toArray())) {
      be.matmul(partial, dy, weight.value(), false, false, 1f, 0f);
      tp.allReduce(be, partial);
      be.add(dx, dx, partial);
    }
    be.matmul(weight.grad(), dy, x, true, false, 1f, 1f);
    if (bias != null) {
      be.addBiasBackward(bias.grad(), dy);
    }
  }
}
