package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Params;

/**
 * Causal multi-head self-attention: q, k, v projections, optional rotary positions, the fused
 * attention kernel, an output projection. x, y [B, T, C]; inside, heads are [B, T, H, D].
 */
public final class Attention {
  private final Backend be;
  private final LinearLayer q;
  private final LinearLayer k;
  private final LinearLayer v;
  private final LinearLayer proj;
  private final int heads;
  private final int headSize;
  private final Tensor ropeFreqs;
  private final Region region;

  public Attention(Params params, LayerFactory layers, String name, GptConfig cfg, float std, float projStd) {
    this.be = params.backend();
    this.heads = layers.localHeads(cfg.nHead());
    this.region = layers.region();
    this.headSize = cfg.headSize();
    // The factory gets full sizes (all heads); a tensor-parallel one keeps this worker's heads.
    int width = cfg.nHead() * headSize;
    q = layers.linear(params, name + ".q", cfg.nEmbd(), width, cfg.bias(), std, LayerFactory.Split.COLUMN);
    k = layers.linear(params, name + ".k", cfg.nEmbd(), width, cfg.bias(), std, LayerFactory.Split.COLUMN);
    v = layers.linear(params, name + ".v", cfg.nEmbd(), width, cfg.bias(), std, LayerFactory.Split.COLUMN);
    proj = layers.linear(params, name + ".proj", width, cfg.nEmbd(), cfg.bias(), projStd, LayerFactory.Split.ROW);
    if (cfg.positions() == GptConfig.Positions.ROTARY) {
      float[] f = new float[headSize / 2];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) Math.pow(cfg.ropeBase(), -2.0 * i / headSize);
      }
      ropeFreqs = be.fromArray(f, f.length);
    } else {
      ropeFreqs = null;
    }
  }

  public static final class Ctx extends Saved {
    /** The input as the region sees it: x, or all of the tokens under sequence parallelism. */
    final Tensor x;
    Tensor q;
    Tensor k;
    Tensor v;
    Tensor qr;
    Tensor kr;
    Tensor att;
    Tensor lse;
    public Tensor out;

    Ctx(Tensor x) {
      this.x = x;
    }
  }

  private Tensor heads(Tensor t) {
    return be.view(t, t.shape().dim(0), t.shape().dim(1), heads, headSize);
  }

  public Ctx forward(Tensor input) {
    Tensor x = region.enter(be, input);
    Ctx c = new Ctx(x);
    if (x != input) {
      c.keep(x);
    }
    int b = x.shape().dim(0);
    int t = x.shape().dim(1);
    c.q = c.keep(q.forward(x));
    c.k = c.keep(k.forward(x));
    c.v = c.keep(v.forward(x));
    if (ropeFreqs != null) {
      c.qr = c.keep(be.empty(c.q.dtype(), Shape.of(b, t, heads, headSize)));
      c.kr = c.keep(be.empty(c.q.dtype(), Shape.of(b, t, heads, headSize)));
      be.rope(c.qr, heads(c.q), ropeFreqs);
      be.rope(c.kr, heads(c.k), ropeFreqs);
    } else {
      c.qr = heads(c.q);
      c.kr = heads(c.k);
    }
    c.att = c.keep(be.empty(c.q.dtype(), Shape.of(b, t, heads, headSize)));
    c.lse = c.keep(be.empty(c.q.dtype(), Shape.of(b, heads, t)));
    be.attention(c.att, c.lse, c.qr, c.kr, heads(c.v));
    c.out = c.keep(region.leave(be, proj.forward(be.view(c.att, b, t, heads * headSize))));
    return c;
  }

  /** dx += the input gradient of dOut. */
  public void backward(Ctx c, Tensor dOut, Tensor dx) {
    int b = c.x.shape().dim(0);
    int t = c.x.shape().dim(1);
    int width = heads * headSize;
    Tensor dy = region.leaveBackward(be, dOut);
    Tensor dIn = region.enterGradient(be, dx, c.x);
    // Overwritten by the ops that produce them (proj's input gradient, attention's backward): no zeroing first.
    try (Tensor dAtt = be.empty(DType.F32, Shape.of(b, t, width));
        Tensor dq = be.empty(DType.F32, Shape.of(b, t, heads, headSize));
        Tensor dk = be.empty(DType.F32, Shape.of(b, t, heads, headSize));
        Tensor dv = be.empty(DType.F32, Shape.of(b, t, width))) {
      proj.backwardOver(be.view(c.att, b, t, width), dy, dAtt);
      be.attentionBackward(dq, dk, heads(dv), be.view(dAtt, b, t, heads, headSize), c.qr, c.kr, heads(c.v), c.att,
          c.lse);
      if (ropeFreqs != null) {
        try (Tensor dq0 = be.zeros(b, t, heads, headSize); Tensor dk0 = be.zeros(b, t, heads, headSize)) {
          be.ropeBackward(dq0, dq, ropeFreqs);
          be.ropeBackward(dk0, dk, ropeFreqs);
          q.backward(c.x, be.view(dq0, b, t, width), dIn);
          k.backward(c.x, be.view(dk0, b, t, width), dIn);
        }
      } else {
        q.backward(c.x, be.view(dq, b, t, width), dIn);
        k.backward(c.x, be.view(dk, b, t, width), dIn);
      }
      v.backward(c.x, dv, dIn);
    } finally {
      if (dy != dOut) {
        dy.close();
      }
    }
    region.enterBackward(be, dIn, dx);
  }
}
