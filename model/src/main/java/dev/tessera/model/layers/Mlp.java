package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Params;

/** The feed-forward block: fc, GELU, proj (GPT-2); or gate and up, SwiGLU, down (Llama). */
public final class Mlp {
  private final Backend be;
  private final GptConfig.Mlp kind;
  private final LinearLayer up;
  private final LinearLayer gate;
  private final LinearLayer down;

  public Mlp(Params params, LayerFactory layers, String name, GptConfig cfg, float std, float projStd) {
    this.be = params.backend();
    this.kind = cfg.mlp();
    int hidden = cfg.hidden();
    if (kind == GptConfig.Mlp.GELU) {
      up = layers.linear(params, name + ".fc", cfg.nEmbd(), hidden, cfg.bias(), std, LayerFactory.Split.COLUMN);
      gate = null;
    } else {
      gate = layers.linear(params, name + ".gate", cfg.nEmbd(), hidden, cfg.bias(), std, LayerFactory.Split.COLUMN);
      up = layers.linear(params, name + ".up", cfg.nEmbd(), hidden, cfg.bias(), std, LayerFactory.Split.COLUMN);
    }
    down = layers.linear(params, name + ".proj", hidden, cfg.nEmbd(), cfg.bias(), projStd, LayerFactory.Split.ROW);
  }

  public static final class Ctx extends Saved {
    final Tensor x;
    Tensor h;
    Tensor g;
    Tensor act;
    public Tensor out;

    Ctx(Tensor x) {
      this.x = x;
    }
  }

  public Ctx forward(Tensor x) {
    Ctx c = new Ctx(x);
    c.h = c.keep(up.forward(x));
    c.act = c.keep(be.empty(c.h.dtype(), c.h.shape()));
    if (kind == GptConfig.Mlp.GELU) {
      be.gelu(c.act, c.h);
    } else {
      c.g = c.keep(gate.forward(x));
      be.swiglu(c.act, c.g, c.h);
    }
    c.out = c.keep(down.forward(c.act));
    return c;
  }

  /** dx += the input gradient of dOut. */
  public void backward(Ctx c, Tensor dOut, Tensor dx) {
    try (Tensor dAct = be.allocate(c.act.dtype(), c.act.shape()); Tensor dh = be.allocate(c.h.dtype(), c.h.shape())) {
      down.backward(c.act, dOut, dAct);
      if (kind == GptConfig.Mlp.GELU) {
        be.geluBackward(dh, dAct, c.h);
      } else {
        try (Tensor dg = be.allocate(c.g.dtype(), c.g.shape())) {
          be.swigluBackward(dg, dh, dAct, c.g, c.h);
          gate.backward(c.x, dg, dx);
        }
      }
      up.backward(c.x, dh, dx);
    }
  }
}
