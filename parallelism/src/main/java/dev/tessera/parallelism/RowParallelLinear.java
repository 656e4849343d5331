package dev.tessera.parallelism;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.layers.Linear;
import dev.tessera.model.layers.LinearLayer;

/**
 * y = sum over tp of x_local W_local^T, + b: W split by input features (columns in/tp of the full
 * [out, in] weight), x split the same way (the output of a column-parallel layer). The output leaves
 * the tp region by "reduce" (all-reduce forward, identity backward); the bias is replicated and
 * added once, after the sum.
 */
final class RowParallelLinear implements LinearLayer {
  private final TensorParallel tp;
  private final Backend be;
  private final Param weight;
  private final Param bias;
  private final int out;

  RowParallelLinear(TensorParallel tp, Params params, String name, int in, int out, boolean bias, float std) {
    if (in % tp.size() != 0) {
      throw new IllegalArgumentException(name + ": tp=" + tp.size() + " does not divide its " + in + " inputs");
    }
    this.tp = tp;
    this.be = params.backend();
    this.out = out;
    this.weight = params.normalSlice(name + ".weight", std, 1, tp.index(), tp.size(), out, in);
    this.bias = bias ? params.constant(name + ".bias", 0f, out) : null;
  }

  @Override
  public Tensor forward(Tensor x) {
    Tensor y = Linear.project(be, x, weight.value(), out);
    tp.allReduce(be, y);
    if (bias != null) {
      be.addBias(y, y, bias.value());
    }
    return y;
  }

  @Override
  public void backward(Tensor x, Tensor dy, Tensor dx) {
    be.matmul(dx, dy, weight.value(), false, false, 1f, 1f);
    be.matmul(weight.grad(), dy, x, true, false, 1f, 1f);
    if (bias != null) {
      be.addBiasBackward(bias.grad(), dy);
    }
  }
}
