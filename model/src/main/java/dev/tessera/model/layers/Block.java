package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Params;

/** A pre-norm transformer block: x2 = x + attn(norm1(x)); y = x2 + mlp(norm2(x2)). */
public final class Block {
  private final Backend be;
  private final Norm norm1;
  private final Attention attn;
  private final Norm norm2;
  private final Mlp mlp;

  public Block(Params params, LayerFactory layers, String name, GptConfig cfg) {
    this.be = params.backend();
    float std = 0.02f;
    // GPT-2: residual projections scaled by 1/sqrt(2 * layers).
    float projStd = (float) (0.02 / Math.sqrt(2.0 * cfg.nLayer()));
    norm1 = new Norm(params, name + ".norm1", cfg.nEmbd(), cfg.norm(), cfg.bias());
    attn = new Attention(params, layers, name + ".attn", cfg, std, projStd);
    norm2 = new Norm(params, name + ".norm2", cfg.nEmbd(), cfg.norm(), cfg.bias());
    mlp = new Mlp(params, layers, name + ".mlp", cfg, std, projStd);
  }

  public static final class Ctx extends Saved {
    Norm.Ctx n1;
    Attention.Ctx a;
    Tensor x2;
    Norm.Ctx n2;
    Mlp.Ctx m;
    public Tensor out;
  }

  public Ctx forward(Tensor x) {
    Ctx c = new Ctx();
    c.n1 = c.keep(norm1.forward(x));
    c.a = c.keep(attn.forward(c.n1.out));
    c.x2 = c.keep(be.empty(x.dtype(), x.shape()));
    be.add(c.x2, x, c.a.out);
    c.n2 = c.keep(norm2.forward(c.x2));
    c.m = c.keep(mlp.forward(c.n2.out));
    c.out = c.keep(be.empty(x.dtype(), x.shape()));
    be.add(c.out, c.x2, c.m.out);
    return c;
  }

  /** Returns dx (the caller owns it) for dOut, walking the block in reverse. */
  public Tensor backward(Ctx c, Tensor dOut) {
    Tensor dx2 = be.empty(dOut.dtype(), dOut.shape());
    be.copy(dx2, dOut); // the residual path
    try (Tensor dn2 = be.allocate(dOut.dtype(), dOut.shape())) {
      mlp.backward(c.m, dOut, dn2);
      norm2.backward(c.n2, dn2, dx2);
    }
    Tensor dx = be.empty(dOut.dtype(), dOut.shape());
    be.copy(dx, dx2);
    try (Tensor dn1 = be.allocate(dOut.dtype(), dOut.shape())) {
      attn.backward(c.a, dx2, dn1);
      norm1.backward(c.n1, dn1, dx);
    } finally {
      dx2.close();
    }
    return dx;
  }
}
