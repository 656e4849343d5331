package dev.tessera.kernels.reference;

import dev.tessera.kernels.BackendBase;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.ShapeException;
import dev.tessera.kernels.Tensor;

/**
 * The oracle: every op as plain single-threaded loops, written for clarity, with reductions in
 * double precision. Fast backends are tested against this one, and this one against finite
 * differences. Subclasses may override ops with faster versions (see {@code ThreadPoolBackend}).
 */
public class ReferenceBackend extends BackendBase {
  static final float GELU_SCALE = (float) Math.sqrt(2.0 / Math.PI);

  @Override
  public String describe() {
    return "reference (plain Java loops, single thread)";
  }

  @Override
  public DeviceKind kind() {
    return DeviceKind.REFERENCE;
  }

  @Override
  public Tensor allocate(DType dtype, Shape shape) {
    return new HostTensor(this, dtype, shape);
  }

  protected static float[] f(Tensor t) {
    return t == null ? null : ((HostTensor) t).f;
  }

  protected static int[] ints(Tensor t) {
    return ((HostTensor) t).i;
  }

  @Override
  protected void doWrite(Tensor dst, float[] src) {
    System.arraycopy(src, 0, f(dst), 0, src.length);
  }

  @Override
  protected void doWriteInts(Tensor dst, int[] src) {
    System.arraycopy(src, 0, ints(dst), 0, src.length);
  }

  @Override
  protected float[] doRead(Tensor src) {
    return f(src).clone();
  }

  @Override
  protected int[] doReadInts(Tensor src) {
    return ints(src).clone();
  }

  @Override
  protected void doCopy(Tensor dst, Tensor src) {
    if (src.dtype() == DType.F32) {
      System.arraycopy(f(src), 0, f(dst), 0, src.size());
    } else {
      System.arraycopy(ints(src), 0, ints(dst), 0, src.size());
    }
  }

  @Override
  protected Tensor doView(Tensor t, Shape shape) {
    return new HostTensor((HostTensor) t, shape);
  }

  @Override
  protected void doFill(Tensor x, float value) {
    java.util.Arrays.fill(f(x), value);
  }

  @Override
  public void sync() {
    // Every op has finished when it returns.
  }

  @Override
  public void close() {
    // Nothing held.
  }

  // ---- matmul ---------------------------------------------------------------------------------

  @Override
  protected void doMatmul(Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta) {
    float[] c = f(out);
    float[] x = f(a);
    float[] y = f(b);
    for (int bi = 0; bi < d.batch(); bi++) {
      for (int i = 0; i < d.m(); i++) {
        for (int j = 0; j < d.n(); j++) {
          double acc = 0;
          for (int kk = 0; kk < d.k(); kk++) {
            acc += (double) x[bi * d.aBatch() + i * d.aRow() + kk * d.aK()] * y[bi * d.bBatch() + kk * d.bK() + j * d.bCol()];
          }
          int o = (bi * d.m() + i) * d.n() + j;
          c[o] = beta == 0f ? (float) (alpha * acc) : (float) (alpha * acc + beta * c[o]);
        }
      }
    }
  }

  // ---- element-wise ---------------------------------------------------------------------------

  @Override
  protected void doAdd(Tensor out, Tensor a, Tensor b) {
    float[] o = f(out);
    float[] x = f(a);
    float[] y = f(b);
    for (int i = 0; i < o.length; i++) {
      o[i] = x[i] + y[i];
    }
  }

  @Override
  protected void doAddBias(Tensor out, Tensor x, Tensor bias) {
    float[] o = f(out);
    float[] in = f(x);
    float[] bs = f(bias);
    int c = bs.length;
    for (int i = 0; i < o.length; i++) {
      o[i] = in[i] + bs[i % c];
    }
  }

  @Override
  protected void doAddBiasBackward(Tensor dBias, Tensor dOut) {
    float[] db = f(dBias);
    float[] g = f(dOut);
    int c = db.length;
    for (int j = 0; j < c; j++) {
      double acc = 0;
      for (int r = 0; r < g.length / c; r++) {
        acc += g[r * c + j];
      }
      db[j] += (float) acc;
    }
  }

  @Override
  protected void doScale(Tensor x, float alpha) {
    float[] v = f(x);
    for (int i = 0; i < v.length; i++) {
      v[i] *= alpha;
    }
  }

  @Override
  protected void doAxpy(Tensor y, float alpha, Tensor x) {
    float[] o = f(y);
    float[] in = f(x);
    for (int i = 0; i < o.length; i++) {
      o[i] += alpha * in[i];
    }
  }

  @Override
  protected void doSum(Tensor out, Tensor x, boolean squares) {
    double acc = 0;
    for (float v : f(x)) {
      acc += squares ? (double) v * v : v;
    }
    f(out)[0] = (float) acc;
  }

  @Override
  protected void doGelu(Tensor out, Tensor x) {
    float[] o = f(out);
    float[] in = f(x);
    for (int i = 0; i < o.length; i++) {
      float v = in[i];
      o[i] = 0.5f * v * (1f + (float) Math.tanh(GELU_SCALE * (v + 0.044715f * v * v * v)));
    }
  }

  @Override
  protected void doGeluBackward(Tensor dx, Tensor dOut, Tensor x) {
    float[] d = f(dx);
    float[] g = f(dOut);
    float[] in = f(x);
    for (int i = 0; i < d.length; i++) {
      float v = in[i];
      float t = (float) Math.tanh(GELU_SCALE * (v + 0.044715f * v * v * v));
      float dt = (1f - t * t) * GELU_SCALE * (1f + 3f * 0.044715f * v * v);
      d[i] = g[i] * (0.5f * (1f + t) + 0.5f * v * dt);
    }
  }

  @Override
  protected void doSwiglu(Tensor out, Tensor gate, Tensor up) {
    float[] o = f(out);
    float[] g = f(gate);
    float[] u = f(up);
    for (int i = 0; i < o.length; i++) {
      float s = sigmoid(g[i]);
      o[i] = g[i] * s * u[i];
    }
  }

  @Override
  protected void doSwigluBackward(Tensor dGate, Tensor dUp, Tensor dOut, Tensor gate, Tensor up) {
    float[] dg = f(dGate);
    float[] du = f(dUp);
    float[] d = f(dOut);
    float[] g = f(gate);
    float[] u = f(up);
    for (int i = 0; i < d.length; i++) {
      float s = sigmoid(g[i]);
      dg[i] += d[i] * u[i] * s * (1f + g[i] * (1f - s));
      du[i] += d[i] * g[i] * s;
    }
  }

  static float sigmoid(float x) {
    return (float) (1.0 / (1.0 + Math.exp(-x)));
  }

  @Override
  protected void doAdamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
      float eps, float weightDecay, int step) {
    float[] p = f(param);
    float[] g = f(grad);
    float[] mm = f(m);
    float[] vv = f(v);
    float c1 = 1f - (float) Math.pow(beta1, step);
    float c2 = 1f - (float) Math.pow(beta2, step);
    for (int i = 0; i < p.length; i++) {
      mm[i] = beta1 * mm[i] + (1f - beta1) * g[i];
      vv[i] = beta2 * vv[i] + (1f - beta2) * g[i] * g[i];
      float mHat = mm[i] / c1;
      float vHat = vv[i] / c2;
      // Decoupled weight decay first, then the Adam step (PyTorch's AdamW order).
      p[i] = p[i] * (1f - lr * weightDecay) - lr * mHat / ((float) Math.sqrt(vHat) + eps);
    }
  }

  // ---- normalisation --------------------------------------------------------------------------

  @Override
  protected void doLayerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
    float[] o = f(out);
    float[] in = f(x);
    float[] w = f(weight);
    float[] bs = f(bias);
    int c = w.length;
    for (int r = 0; r < in.length / c; r++) {
      int base = r * c;
      double mu = 0;
      for (int j = 0; j < c; j++) {
        mu += in[base + j];
      }
      mu /= c;
      double var = 0;
      for (int j = 0; j < c; j++) {
        double dv = in[base + j] - mu;
        var += dv * dv;
      }
      var /= c;
      float rs = (float) (1.0 / Math.sqrt(var + eps));
      for (int j = 0; j < c; j++) {
        float n = (float) ((in[base + j] - mu) * rs);
        o[base + j] = n * w[j] + (bs == null ? 0f : bs[j]);
      }
      f(mean)[r] = (float) mu;
      f(rstd)[r] = rs;
    }
  }

  @Override
  protected void doLayerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd) {
    float[] d = f(dx);
    float[] dw = f(dWeight);
    float[] db = f(dBias);
    float[] g = f(dOut);
    float[] in = f(x);
    float[] w = f(weight);
    int c = w.length;
    for (int r = 0; r < in.length / c; r++) {
      int base = r * c;
      float mu = f(mean)[r];
      float rs = f(rstd)[r];
      double meanDn = 0;
      double meanDnN = 0;
      for (int j = 0; j < c; j++) {
        float n = (in[base + j] - mu) * rs;
        float dn = g[base + j] * w[j];
        meanDn += dn;
        meanDnN += dn * n;
      }
      meanDn /= c;
      meanDnN /= c;
      for (int j = 0; j < c; j++) {
        float n = (in[base + j] - mu) * rs;
        float dn = g[base + j] * w[j];
        d[base + j] += (float) ((dn - meanDn - n * meanDnN) * rs);
        dw[j] += g[base + j] * n;
        if (db != null) {
          db[j] += g[base + j];
        }
      }
    }
  }

  @Override
  protected void doRmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
    float[] o = f(out);
    float[] in = f(x);
    float[] w = f(weight);
    int c = w.length;
    for (int r = 0; r < in.length / c; r++) {
      int base = r * c;
      double ms = 0;
      for (int j = 0; j < c; j++) {
        ms += (double) in[base + j] * in[base + j];
      }
      float rs = (float) (1.0 / Math.sqrt(ms / c + eps));
      for (int j = 0; j < c; j++) {
        o[base + j] = in[base + j] * rs * w[j];
      }
      f(rstd)[r] = rs;
    }
  }

  @Override
  protected void doRmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd) {
    float[] d = f(dx);
    float[] dw = f(dWeight);
    float[] g = f(dOut);
    float[] in = f(x);
    float[] w = f(weight);
    int c = w.length;
    for (int r = 0; r < in.length / c; r++) {
      int base = r * c;
      float rs = f(rstd)[r];
      double meanDnN = 0;
      for (int j = 0; j < c; j++) {
        meanDnN += (double) g[base + j] * w[j] * in[base + j] * rs;
      }
      meanDnN /= c;
      for (int j = 0; j < c; j++) {
        float n = in[base + j] * rs;
        d[base + j] += (float) ((g[base + j] * w[j] - n * meanDnN) * rs);
        dw[j] += g[base + j] * n;
      }
    }
  }

  // ---- positions ------------------------------------------------------------------------------

  @Override
  protected void doRope(Tensor out, Tensor x, Tensor freqs, boolean backward) {
    Shape s = x.shape();
    int t = s.dim(1);
    int h = s.dim(2);
    int half = s.dim(3) / 2;
    float[] o = f(out);
    float[] in = f(x);
    float[] fr = f(freqs);
    for (int p = 0; p < in.length / 2; p++) {
      int i = p % half;
      int pos = (p / half / h) % t;
      float theta = pos * fr[i];
      float c = (float) Math.cos(theta);
      float sn = backward ? -(float) Math.sin(theta) : (float) Math.sin(theta);
      float a = in[2 * p];
      float b = in[2 * p + 1];
      float ra = a * c - b * sn;
      float rb = a * sn + b * c;
      if (backward) {
        o[2 * p] += ra;
        o[2 * p + 1] += rb;
      } else {
        o[2 * p] = ra;
        o[2 * p + 1] = rb;
      }
    }
  }

  // ---- attention ------------------------------------------------------------------------------

  @Override
  protected void doAttention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    Shape s = q.shape();
    int bs = s.dim(0);
    int t = s.dim(1);
    int h = s.dim(2);
    for (int b = 0; b < bs; b++) {
      for (int hh = 0; hh < h; hh++) {
        for (int i = 0; i < t; i++) {
          attentionRow(f(out), f(lse), f(q), f(k), f(v), s, b, hh, i);
        }
      }
    }
  }

  /** One query row: lse[b,h,i] and out[b,i,h,:]. */
  protected static void attentionRow(float[] out, float[] lse, float[] q, float[] k, float[] v, Shape s, int b,
      int hh, int i) {
    int t = s.dim(1);
    int h = s.dim(2);
    int dd = s.dim(3);
    double scale = 1.0 / Math.sqrt(dd);
    double[] scores = new double[i + 1];
    double max = Double.NEGATIVE_INFINITY;
    int qi = ((b * t + i) * h + hh) * dd;
    for (int j = 0; j <= i; j++) {
      int kj = ((b * t + j) * h + hh) * dd;
      double dot = 0;
      for (int e = 0; e < dd; e++) {
        dot += (double) q[qi + e] * k[kj + e];
      }
      scores[j] = dot * scale;
      max = Math.max(max, scores[j]);
    }
    double sum = 0;
    for (int j = 0; j <= i; j++) {
      sum += Math.exp(scores[j] - max);
    }
    double logSum = max + Math.log(sum);
    lse[(b * h + hh) * t + i] = (float) logSum;
    for (int e = 0; e < dd; e++) {
      double acc = 0;
      for (int j = 0; j <= i; j++) {
        acc += Math.exp(scores[j] - logSum) * v[((b * t + j) * h + hh) * dd + e];
      }
      out[qi + e] = (float) acc;
    }
  }

  @Override
  protected void doAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor out, Tensor lse) {
    clearGradients(dq, dk, dv);
    Shape s = q.shape();
    for (int b = 0; b < s.dim(0); b++) {
      for (int hh = 0; hh < s.dim(2); hh++) {
        attentionBackwardHead(f(dq), f(dk), f(dv), f(dOut), f(q), f(k), f(v), f(out), f(lse), s, b, hh);
      }
    }
  }

  /** Zeroes attention's gradients, which {@link #attentionBackwardHead} sums into (the op overwrites them). */
  protected static void clearGradients(Tensor dq, Tensor dk, Tensor dv) {
    java.util.Arrays.fill(f(dq), 0f);
    java.util.Arrays.fill(f(dk), 0f);
    java.util.Arrays.fill(f(dv), 0f);
  }

  /**
   * Backward for one (batch, head): D_i = dOut_i . out_i; p_ij = exp(q_i.k_j * scale - lse_i);
   * dp_ij = dOut_i . v_j; ds_ij = p_ij (dp_ij - D_i); dq_i += scale sum_j ds_ij k_j;
   * dk_j += scale sum_i ds_ij q_i; dv_j += sum_i p_ij dOut_i.
   */
  protected static void attentionBackwardHead(float[] dq, float[] dk, float[] dv, float[] dOut, float[] q, float[] k,
      float[] v, float[] out, float[] lse, Shape s, int b, int hh) {
    int t = s.dim(1);
    int h = s.dim(2);
    int dd = s.dim(3);
    double scale = 1.0 / Math.sqrt(dd);
    for (int i = 0; i < t; i++) {
      int qi = ((b * t + i) * h + hh) * dd;
      double di = 0;
      for (int e = 0; e < dd; e++) {
        di += (double) dOut[qi + e] * out[qi + e];
      }
      float l = lse[(b * h + hh) * t + i];
      for (int j = 0; j <= i; j++) {
        int kj = ((b * t + j) * h + hh) * dd;
        double dot = 0;
        double dp = 0;
        for (int e = 0; e < dd; e++) {
          dot += (double) q[qi + e] * k[kj + e];
          dp += (double) dOut[qi + e] * v[kj + e];
        }
        double p = Math.exp(dot * scale - l);
        double ds = p * (dp - di);
        for (int e = 0; e < dd; e++) {
          dq[qi + e] += (float) (scale * ds * k[kj + e]);
          dk[kj + e] += (float) (scale * ds * q[qi + e]);
          dv[kj + e] += (float) (p * dOut[qi + e]);
        }
      }
    }
  }

  // ---- embeddings and loss --------------------------------------------------------------------

  @Override
  protected void doEmbedding(Tensor out, Tensor table, Tensor ids, int first, boolean strict) {
    int c = table.shape().last();
    int vocab = table.shape().dim(0);
    int[] id = ints(ids);
    for (int i = 0; i < id.length; i++) {
      int row = id[i] - first;
      if (strict) {
        checkId("embedding", id[i], vocab);
      }
      if (row >= 0 && row < vocab) {
        System.arraycopy(f(table), row * c, f(out), i * c, c);
      } else {
        java.util.Arrays.fill(f(out), i * c, (i + 1) * c, 0f);
      }
    }
  }

  @Override
  protected void doEmbeddingBackward(Tensor dTable, Tensor dOut, Tensor ids, int first, boolean strict) {
    int c = dTable.shape().last();
    int vocab = dTable.shape().dim(0);
    int[] id = ints(ids);
    float[] dt = f(dTable);
    float[] g = f(dOut);
    for (int i = 0; i < id.length; i++) {
      int row = id[i] - first;
      if (strict) {
        checkId("embeddingBackward", id[i], vocab);
      }
      if (row < 0 || row >= vocab) {
        continue;
      }
      for (int j = 0; j < c; j++) {
        dt[row * c + j] += g[i * c + j];
      }
    }
  }

  protected static void checkId(String op, int id, int vocab) {
    if (id < 0 || id >= vocab) {
      throw new ShapeException(op, "token id " + id + " outside the vocabulary [0, " + vocab + ")");
    }
  }

  @Override
  protected void doCrossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first,
      boolean strict) {
    int vocab = logits.shape().last();
    float[] z = f(logits);
    int[] tg = ints(targets);
    for (int r = 0; r < tg.length; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < vocab; j++) {
        max = Math.max(max, z[r * vocab + j]);
      }
      double sum = 0;
      for (int j = 0; j < vocab; j++) {
        sum += Math.exp(z[r * vocab + j] - max);
      }
      double l = max + Math.log(sum);
      f(lse)[r] = (float) l;
      if (strict && tg[r] >= vocab) {
        throw new ShapeException("crossEntropy", "target " + tg[r] + " outside the vocabulary [0, " + vocab + ")");
      }
      int t = tg[r] - first;
      f(losses)[r] = tg[r] < 0 || t < 0 || t >= vocab ? 0f : (float) (l - z[r * vocab + t]);
    }
  }

  @Override
  protected void doCrossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale,
      int first) {
    int vocab = logits.shape().last();
    float[] z = f(logits);
    float[] dz = f(dLogits);
    int[] tg = ints(targets);
    for (int r = 0; r < tg.length; r++) {
      if (tg[r] < 0) {
        continue;
      }
      float l = f(lse)[r];
      for (int j = 0; j < vocab; j++) {
        float p = (float) Math.exp(z[r * vocab + j] - l);
        dz[r * vocab + j] += lossScale * (p - (j == tg[r] - first ? 1f : 0f));
      }
    }
  }
}
