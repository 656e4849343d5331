package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import dev.tessera.model.Params;

/**
 * y = x W^T + b. x [..., in], W [out, in] (PyTorch's layout), b [out], y [..., out]. Also a
 * tensor-parallel shard of a larger linear (the communication is the {@link Region}'s).
 */
public final class Linear implements LinearLayer {
  private final Backend be;
  private final Param weight;
  private final Param bias;
  private final int out;
  private final boolean addsBias;

  public Linear(Params params, String name, int in, int out, boolean bias, float std) {
    this(params.backend(), params.normal(name + ".weight", std, out, in),
        bias ? params.constant(name + ".bias", 0f, out) : null, true);
  }

  /**
   * Over given parameters: a weight [out, in] and an optional bias [out] (a tensor-parallel shard of
   * a larger layer). {@code addsBias} false: the bias is not added in forward (another worker adds
   * it before a sum) but its gradient still accumulates in backward.
   */
  public Linear(Backend be, Param weight, Param bias, boolean addsBias) {
    this.be = be;
    this.weight = weight;
    this.bias = bias;
    this.out = weight.value().shape().dim(0);
    this.addsBias = addsBias;
  }

  @Override
  public Tensor forward(Tensor x) {
    Tensor y = project(be, x, weight.value(), out);
    if (bias != null && addsBias) {
      be.addBias(y, y, bias.value());
    }
    return y;
  }

  /** y = x W^T for W [out, in] (a new tensor, x [..., in] -> y [..., out]); the bias is the caller's. */
  public static Tensor project(Backend be, Tensor x, Tensor weight, int out) {
    int[] dims = x.shape().toArray();
    dims[dims.length - 1] = out;
    Tensor y = be.empty(DType.F32, Shape.of(dims)); // the matmul overwrites it
    be.matmul(y, x, weight, false, true);
    return y;
  }

  /** dx += dy W; dW += dy^T x; db += sum of dy over rows. */
  @Override
  public void backward(Tensor x, Tensor dy, Tensor dx) {
    backward(x, dy, dx, 1f);
  }

  /** dx = dy W; dW += dy^T x; db += sum of dy over rows. */
  @Override
  public void backwardOver(Tensor x, Tensor dy, Tensor dx) {
    backward(x, dy, dx, 0f);
  }

  /** dx = dy W + beta dx (beta 0: dx's old contents are ignored); the parameter gradients accumulate. */
  private void backward(Tensor x, Tensor dy, Tensor dx, float beta) {
    be.matmul(dx, dy, weight.value(), false, false, 1f, beta);
    be.matmul(weight.grad(), dy, x, true, false, 1f, 1f);
    if (bias != null) {
      be.addBiasBackward(bias.grad(), dy);
    }
  }
}
