package dev.tessera.kernels.opencl;

/**
 * The one Aparapi kernel of the OpenCL backend. Aparapi compiles only {@code run()} and gives each
 * kernel object its own device memory, so every op lives here as a branch chosen by {@link #op}
 * (see {@link Op}), and every tensor is a region of the arenas {@link #mem} and {@link #imem}.
 * That keeps tensors resident on the device across launches.
 */
final class TesseraKernel extends OpsKernelBase {

  @Override
  public void run() {
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      matmulTile();
    } else {
      final int i = getGlobalId(0);
      if (i < n) {
        dispatch(i);
      }
    }
  }

  private void dispatch(int i) {
    if (op == Op.STAGE_IN) {
      stageIn(i);
    } else if (op == Op.STAGE_OUT) {
      stageOut(i);
    } else if (op == Op.STAGE_IN_INT) {
      stageInInt(i);
    } else if (op == Op.STAGE_OUT_INT) {
      stageOutInt(i);
    } else if (op == Op.COPY) {
      copy(i);
    } else if (op == Op.COPY_INT) {
      copyInt(i);
    } else if (op == Op.FILL) {
      fill(i);
    } else if (op == Op.PACK_A) {
      packA(i);
    } else if (op == Op.PACK_B) {
      packB(i);
    } else if (op == Op.ADD) {
      add(i);
    } else if (op == Op.ADD_BIAS) {
      addBias(i);
    } else if (op == Op.ADD_BIAS_BACKWARD) {
      addBiasBackward(i);
    } else if (op == Op.SCALE) {
      scale(i);
    } else if (op == Op.AXPY) {
      axpy(i);
    } else if (op == Op.SUM_PARTIAL) {
      sumPartial(i);
    } else if (op == Op.SUM_FINAL) {
      sumFinal();
    } else if (op == Op.GELU) {
      gelu(i);
    } else if (op == Op.GELU_BACKWARD) {
      geluBackward(i);
    } else if (op == Op.SWIGLU) {
      swiglu(i);
    } else if (op == Op.SWIGLU_BACKWARD) {
      swigluBackward(i);
    } else if (op == Op.LAYER_NORM) {
      layerNorm(i);
    } else if (op == Op.LAYER_NORM_BACKWARD_DX) {
      layerNormBackwardDx(i);
    } else if (op == Op.NORM_BACKWARD_PARAMS) {
      normBackwardParams(i);
    } else if (op == Op.RMS_NORM) {
      rmsNorm(i);
    } else if (op == Op.RMS_NORM_BACKWARD_DX) {
      rmsNormBackwardDx(i);
    } else if (op == Op.ATTENTION) {
      attention(i);
    } else if (op == Op.ATTENTION_BACKWARD_DQ) {
      attentionBackwardDq(i);
    } else if (op == Op.ATTENTION_BACKWARD_DKV) {
      attentionBackwardDkv(i);
    } else if (op == Op.EMBEDDING) {
      embedding(i);
    } else if (op == Op.EMBEDDING_BACKWARD) {
      embeddingBackward(i);
    } else if (op == Op.CROSS_ENTROPY) {
      crossEntropy(i);
    } else if (op == Op.CROSS_ENTROPY_BACKWARD) {
      crossEntropyBackward(i);
    } else if (op == Op.ADAMW) {
      adamw(i);
    }
  }

  // ---- attention: q, k, v, out [B, T, H, D]; lse [B, H, T]; one work-item per (b, h, row) ------

  /** q . k over the head dimension for rows qi and kj (element offsets of the rows). */
  private float dot(int qBase, int kBase, int dims) {
    float acc = 0f;
    for (int e = 0; e < dims; e++) {
      acc += mem[qBase + e] * mem[kBase + e];
    }
    return acc;
  }

  /**
   * Query row i of head (b, h): an online softmax over keys j <= i gives lse, then out = sum_j p_j v_j.
   * o0 out, o1 lse, o2 q, o3 k, o4 v; d0 = T, d1 = H, d2 = D; s0 = 1/sqrt(D).
   */
  private void attention(int w) {
    final int t = d0;
    final int h = d1;
    final int dd = d2;
    final int b = w / (h * t);
    final int hh = (w / t) % h;
    final int i = w % t;
    final int qi = ((b * t + i) * h + hh) * dd;
    float m = NEG_HUGE;
    float l = 0f;
    for (int j = 0; j <= i; j++) {
      final float sc = dot(o2 + qi, o3 + ((b * t + j) * h + hh) * dd, dd) * s0;
      final float mNew = max(m, sc);
      l = l * exp(m - mNew) + exp(sc - mNew);
      m = mNew;
    }
    final float lse = m + log(l);
    mem[o1 + (b * h + hh) * t + i] = lse;
    for (int e = 0; e < dd; e++) {
      mem[o0 + qi + e] = 0f;
    }
    for (int j = 0; j <= i; j++) {
      final int kj = ((b * t + j) * h + hh) * dd;
      final float p = exp(dot(o2 + qi, o3 + kj, dd) * s0 - lse);
      for (int e = 0; e < dd; e++) {
        mem[o0 + qi + e] += p * mem[o4 + kj + e];
      }
    }
  }

  /**
   * dq for query row i: D_i = dOut_i . out_i (kept in o7 for the dk/dv pass); ds_ij = p_ij (dOut_i .
   * v_j - D_i); dq_i += scale sum_j ds_ij k_j. o0 dq, o1 dOut, o2 q, o3 k, o4 v, o5 out, o6 lse, o7 D.
   */
  private void attentionBackwardDq(int w) {
    final int t = d0;
    final int h = d1;
    final int dd = d2;
    final int b = w / (h * t);
    final int hh = (w / t) % h;
    final int i = w % t;
    final int qi = ((b * t + i) * h + hh) * dd;
    final int row = (b * h + hh) * t + i;
    final float di = dot(o1 + qi, o5 + qi, dd);
    mem[o7 + row] = di;
    final float lse = mem[o6 + row];
    for (int j = 0; j <= i; j++) {
      final int kj = ((b * t + j) * h + hh) * dd;
      final float p = exp(dot(o2 + qi, o3 + kj, dd) * s0 - lse);
      final float ds = p * (dot(o1 + qi, o4 + kj, dd) - di);
      for (int e = 0; e < dd; e++) {
        mem[o0 + qi + e] += s0 * ds * mem[o3 + kj + e];
      }
    }
  }

  /**
   * dk, dv for key row j: sums over the queries i >= j that see it. o0 dk, o1 dv, o2 dOut, o3 q,
   * o4 k, o5 v, o6 lse, o7 D (from the dq pass).
   */
  private void attentionBackwardDkv(int w) {
    final int t = d0;
    final int h = d1;
    final int dd = d2;
    final int b = w / (h * t);
    final int hh = (w / t) % h;
    final int j = w % t;
    final int kj = ((b * t + j) * h + hh) * dd;
    for (int i = j; i < t; i++) {
      final int qi = ((b * t + i) * h + hh) * dd;
      final int row = (b * h + hh) * t + i;
      final float p = exp(dot(o3 + qi, o4 + kj, dd) * s0 - mem[o6 + row]);
      final float ds = p * (dot(o2 + qi, o5 + kj, dd) - mem[o7 + row]);
      for (int e = 0; e < dd; e++) {
        mem[o0 + kj + e] += s0 * ds * mem[o3 + qi + e];
        mem[o1 + kj + e] += p * mem[o2 + qi + e];
      }
    }
  }
}
