package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;

/** LayerNorm (weight, optional bias) or RMSNorm (weight) over the last dimension. */
public final class Norm {
  static final float EPS = 1e-5f;

  private final Backend be;
  private final GptConfig.Norm kind;
  private final Param weight;
  private final Param bias;

  public Norm(Params params, String name, int width, GptConfig.Norm kind, boolean bias) {
    this.be = params.backend();
    this.kind = kind;
    this.weight = params.markPerToken(params.constant(name + ".weight", 1f, width));
    this.bias = bias && kind == GptConfig.Norm.LAYERNORM
        ? params.markPerToken(params.constant(name + ".bias", 0f, width)) : null;
  }

  /** Output and statistics for one input. */
  public static final class Ctx extends Saved {
    final Tensor x;
    public final Tensor out;
    final Tensor mean;
    final Tensor rstd;

    Ctx(Backend be, Tensor x, boolean withMean) {
      this.x = x;
      // All three are written whole by the norm op.
      this.out = keep(be.empty(x.dtype(), x.shape()));
      this.mean = withMean ? keep(be.empty(x.dtype(), dev.tessera.kernels.Shape.of(x.shape().rows()))) : null;
      this.rstd = keep(be.empty(x.dtype(), dev.tessera.kernels.Shape.of(x.shape().rows())));
    }
  }

  public Ctx forward(Tensor x) {
    Ctx c = new Ctx(be, x, kind == GptConfig.Norm.LAYERNORM);
    if (kind == GptConfig.Norm.LAYERNORM) {
      be.layerNorm(c.out, c.mean, c.rstd, x, weight.value(), bias == null ? null : bias.value(), EPS);
    } else {
      be.rmsNorm(c.out, c.rstd, x, weight.value(), EPS);
    }
    return c;
  }

  /** dx += the input gradient; the parameter gradients accumulate too. */
  public void backward(Ctx c, Tensor dOut, Tensor dx) {
    if (kind == GptConfig.Norm.LAYERNORM) {
      be.layerNormBackward(dx, weight.grad(), bias == null ? null : bias.grad(), dOut, c.x, weight.value(), c.mean,
          c.rstd);
    } else {
      be.rmsNormBackward(dx, weight.grad(), dOut, c.x, weight.value(), c.rstd);
    }
  }
}
