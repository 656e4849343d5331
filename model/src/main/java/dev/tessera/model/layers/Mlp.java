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
  private final Region region;

  public Mlp(Params params, LayerFactory layers, String name, GptConfig cfg, float std, float projStd) {
    this.be = params.backend();
    this.kind = cfg.mlp();
    this.region = layers.region();
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
    /** The input as the region sees it: x, or all of the tokens under sequence parallelism. */
    final Tensor x;
    Tensor h;
    Tensor g;
    Tensor act;
    public Tensor out;

    Ctx(Tensor x) {
      this.x = x;
    }
  }

  public Ctx forward(Tensor input) {
    Tensor x = region.enter(be, input);
    Ctx c = new Ctx(x);
    if (x != input) {
      c.keep(x);
    }
    c.h = c.keep(up.forward(x));
    c.act = c.keep(be.empty(c.h.dtype(), c.h.shape()));
    if (kind == GptConfig.Mlp.GELU) {
      be.gelu(c.act, c.h);
    } else {
      c.g = c.keep(gate.forward(x));
      be.swiglu(c.act, c.g, c.h);
    }
    c.out = c.keep(region.leave(be, down.forward(c.act)));
    return c;
  }

  /** dx += the input gradient of dOut. */
  public void backward(Ctx c, Tensor dOut, Tensor dx) {
    Tensor dy = region.leaveBackward(be, dOut);
    Tensor dIn = region.enterGradient(be, dx, c.x);
    // dAct and, for GELU, dh are overwritten by the ops that produce them: no zeroing first (SwiGLU's
    // backward sums into dh).
    boolean gelu = kind == GptConfig.Mlp.GELU;
    try (Tensor dAct = be.empty(c.act.dtype(), c.act.shape());
        Tensor dh = gelu ? be.empty(c.h.dtype(), c.h.shape()) : be.allocate(c.h.dtype(), c.h.shape())) {
      down.backwardOver(c.act, dy, dAct);
      if (gelu) {
        be.geluBackward(dh, dAct, c.h);
      } else {
        try (Tensor dg = be.allocate(c.g.dtype(), c.g.shape())) {
          be.swigluBackward(dg, dh, dAct, c.g, c.h);
          gate.backward(c.x, dg, dIn);
        }
      }
      up.backward(c.x, dh, dIn);
    } finally {
      if (dy != dOut) {
        dy.close();
      }
    }
    region.enterBackward(be, dIn, dx);
  }
}
