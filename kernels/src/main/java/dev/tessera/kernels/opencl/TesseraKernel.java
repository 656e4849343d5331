package dev.tessera.kernels.opencl;

/**
 * The one Aparapi kernel of the OpenCL backend. Aparapi compiles only {@code run()} and gives each
 * kernel object its own device memory, so every op lives here as a branch chosen by {@link #op}
 * (see {@link Op}), and every tensor is a region of the arenas {@link #mem} and {@link #imem}.
 * That keeps tensors resident on the device across launches.
 */
final class TesseraKernel extends OpsKernelBase {
  /** Largest head size the register-accumulating attention handles; larger heads use the plain path. */
  static final int MAX_HEAD = 128;

  // Per-work-item accumulators of the attention ops, so that a row's output or gradient is summed
  // in private memory and written once, instead of read-modify-written in global memory per key.
  @PrivateMemorySpace(MAX_HEAD)
  final float[] accA = new float[MAX_HEAD];
  @PrivateMemorySpace(MAX_HEAD)
  final float[] accB = new float[MAX_HEAD];

  @Override
  public void run() {
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      matmulTile();
    } else {
      runUnits();
    }
  }

  private void runUnits() {
    // Each work-item takes `count` work units (see OpenClBackend#launch). The op is chosen once per
    // work-item, outside the loop: pocl cannot vectorise this many-branched kernel, and testing the
    // op for every element made element-wise ops ten times slower.
    final int w = getGlobalId(0);
    final int first = w * itemStride;
    int count = 0;
    if (first < n) {
      count = min(perItem, (n - first + elemStride - 1) / elemStride);
    }
    if (op == Op.STAGE_IN) {
      for (int j = 0; j < count; j++) {
        stageIn(first + j * elemStride);
      }
    } else if (op == Op.STAGE_OUT) {
      for (int j = 0; j < count; j++) {
        stageOut(first + j * elemStride);
      }
    } else if (op == Op.STAGE_IN_INT) {
      for (int j = 0; j < count; j++) {
        stageInInt(first + j * elemStride);
      }
    } else if (op == Op.STAGE_OUT_INT) {
      for (int j = 0; j < count; j++) {
        stageOutInt(first + j * elemStride);
      }
    } else if (op == Op.COPY) {
      for (int j = 0; j < count; j++) {
        copy(first + j * elemStride);
      }
    } else if (op == Op.COPY_INT) {
      for (int j = 0; j < count; j++) {
        copyInt(first + j * elemStride);
      }
    } else if (op == Op.FILL) {
      for (int j = 0; j < count; j++) {
        fill(first + j * elemStride);
      }
    } else if (op == Op.PACK_A) {
      for (int j = 0; j < count; j++) {
        packA(first + j * elemStride);
      }
    } else if (op == Op.PACK_B) {
      for (int j = 0; j < count; j++) {
        packB(first + j * elemStride);
      }
    } else if (op == Op.ADD) {
      for (int j = 0; j < count; j++) {
        add(first + j * elemStride);
      }
    } else if (op == Op.ADD_BIAS) {
      for (int j = 0; j < count; j++) {
        addBias(first + j * elemStride);
      }
    } else if (op == Op.ADD_BIAS_BACKWARD) {
      for (int j = 0; j < count; j++) {
        addBiasBackward(first + j * elemStride);
      }
    } else if (op == Op.SCALE) {
      for (int j = 0; j < count; j++) {
        scale(first + j * elemStride);
      }
    } else if (op == Op.AXPY) {
      for (int j = 0; j < count; j++) {
        axpy(first + j * elemStride);
      }
    } else if (op == Op.SUM_PARTIAL) {
      for (int j = 0; j < count; j++) {
        sumPartial(first + j * elemStride);
      }
    } else if (op == Op.SUM_FINAL) {
      // A loop like the other branches (count is 1 for work-item 0): Aparapi 3.0.2 fails to
      // decompile a bare "if" here ("child list broken").
      for (int j = 0; j < count; j++) {
        sumFinal();
      }
    } else if (op == Op.GELU) {
      for (int j = 0; j < count; j++) {
        gelu(first + j * elemStride);
      }
    } else if (op == Op.GELU_BACKWARD) {
      for (int j = 0; j < count; j++) {
        geluBackward(first + j * elemStride);
      }
    } else if (op == Op.SWIGLU) {
      for (int j = 0; j < count; j++) {
        swiglu(first + j * elemStride);
      }
    } else if (op == Op.SWIGLU_BACKWARD) {
      for (int j = 0; j < count; j++) {
        swigluBackward(first + j * elemStride);
      }
    } else if (op == Op.LAYER_NORM) {
      for (int j = 0; j < count; j++) {
        layerNorm(first + j * elemStride);
      }
    } else if (op == Op.LAYER_NORM_BACKWARD_DX) {
      for (int j = 0; j < count; j++) {
        layerNormBackwardDx(first + j * elemStride);
      }
    } else if (op == Op.NORM_BACKWARD_PARAMS) {
      for (int j = 0; j < count; j++) {
        normBackwardParams(first + j * elemStride);
      }
    } else if (op == Op.RMS_NORM) {
      for (int j = 0; j < count; j++) {
        rmsNorm(first + j * elemStride);
      }
    } else if (op == Op.RMS_NORM_BACKWARD_DX) {
      for (int j = 0; j < count; j++) {
        rmsNormBackwardDx(first + j * elemStride);
      }
    } else if (op == Op.ROPE) {
      for (int j = 0; j < count; j++) {
        rope(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_ONLINE) {
      for (int j = 0; j < count; j++) {
        attentionOnline(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_BACKWARD_DQ_ONLINE) {
      for (int j = 0; j < count; j++) {
        attentionBackwardDqOnline(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_BACKWARD_DKV_ONLINE) {
      for (int j = 0; j < count; j++) {
        attentionBackwardDkvOnline(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION) {
      for (int j = 0; j < count; j++) {
        attention(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_BACKWARD_DQ) {
      for (int j = 0; j < count; j++) {
        attentionBackwardDq(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_BACKWARD_DKV) {
      for (int j = 0; j < count; j++) {
        attentionBackwardDkv(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING) {
      for (int j = 0; j < count; j++) {
        embedding(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING_BACKWARD) {
      for (int j = 0; j < count; j++) {
        embeddingBackward(first + j * elemStride);
      }
    } else if (op == Op.CROSS_ENTROPY) {
      for (int j = 0; j < count; j++) {
        crossEntropy(first + j * elemStride);
      }
    } else if (op == Op.CROSS_ENTROPY_BACKWARD) {
      for (int j = 0; j < count; j++) {
        crossEntropyBackward(first + j * elemStride);
      }
    } else if (op == Op.ADAMW) {
      for (int j = 0; j < count; j++) {
        adamw(first + j * elemStride);
      }
    }
  }

  // ---- attention: q, k, v, out [B, T, H, D]; lse [B, H, T]; one work-item per (b, h, row) ------

  /**
   * Query row i of head (b, h) in one pass (online softmax, as FlashAttention): the running maximum m,
   * the running sum l and the output accumulate in private memory; out = acc / l, lse = m + log l.
   * Same arguments as {@link #attention}; head size at most {@link #MAX_HEAD}.
   */
  private void attentionOnline(int w) {
    final int t = d0;
    final int h = d1;
    final int dd = d2;
    final int b = w / (h * t);
    final int hh = (w / t) % h;
    final int i = w % t;
    final int qi = ((b * t + i) * h + hh) * dd;
    for (int e = 0; e < dd; e++) {
      accA[e] = 0f;
    }
    float m = NEG_HUGE;
    float l = 0f;
    for (int j = 0; j <= i; j++) {
      final int kj = ((b * t + j) * h + hh) * dd;
      final float sc = dot(o2 + qi, o3 + kj, dd) * s0;
      final float mNew = max(m, sc);
      final float corr = exp(m - mNew);
      final float p = exp(sc - mNew);
      l = l * corr + p;
      for (int e = 0; e < dd; e++) {
        accA[e] = accA[e] * corr + p * mem[o4 + kj + e];
      }
      m = mNew;
    }
    mem[o1 + (b * h + hh) * t + i] = m + log(l);
    for (int e = 0; e < dd; e++) {
      mem[o0 + qi + e] = accA[e] / l;
    }
  }

  /** {@link #attentionBackwardDq} with dq summed in private memory and added once. */
  private void attentionBackwardDqOnline(int w) {
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
    for (int e = 0; e < dd; e++) {
      accA[e] = 0f;
    }
    for (int j = 0; j <= i; j++) {
      final int kj = ((b * t + j) * h + hh) * dd;
      final float p = exp(dot(o2 + qi, o3 + kj, dd) * s0 - lse);
      final float ds = p * (dot(o1 + qi, o4 + kj, dd) - di);
      for (int e = 0; e < dd; e++) {
        accA[e] += ds * mem[o3 + kj + e];
      }
    }
    for (int e = 0; e < dd; e++) {
      mem[o0 + qi + e] += s0 * accA[e];
    }
  }

  /** {@link #attentionBackwardDkv} with dk and dv summed in private memory and added once. */
  private void attentionBackwardDkvOnline(int w) {
    final int t = d0;
    final int h = d1;
    final int dd = d2;
    final int b = w / (h * t);
    final int hh = (w / t) % h;
    final int j = w % t;
    final int kj = ((b * t + j) * h + hh) * dd;
    for (int e = 0; e < dd; e++) {
      accA[e] = 0f;
      accB[e] = 0f;
    }
    for (int i = j; i < t; i++) {
      final int qi = ((b * t + i) * h + hh) * dd;
      final int row = (b * h + hh) * t + i;
      final float p = exp(dot(o3 + qi, o4 + kj, dd) * s0 - mem[o6 + row]);
      final float ds = p * (dot(o2 + qi, o5 + kj, dd) - mem[o7 + row]);
      for (int e = 0; e < dd; e++) {
        accA[e] += ds * mem[o3 + qi + e];
        accB[e] += p * mem[o2 + qi + e];
      }
    }
    for (int e = 0; e < dd; e++) {
      mem[o0 + kj + e] += s0 * accA[e];
      mem[o1 + kj + e] += accB[e];
    }
  }

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
