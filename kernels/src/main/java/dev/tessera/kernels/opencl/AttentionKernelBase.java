package dev.tessera.kernels.opencl;

/**
 * The attention ops of the device kernel, in two forms. Fused (CPUs): one work-item per (batch,
 * head, row), never materialising the T x T scores; the one-pass forms keep a row's accumulators in
 * private memory. As batched matmuls (GPUs): heads are permuted into a batch dimension, the scores
 * go through the matmul tile, and the row-wise softmax steps are ops of their own.
 */
abstract class AttentionKernelBase extends OpsKernelBase {
  /** Largest head size the register-accumulating attention handles; larger heads use the plain path. */
  static final int MAX_HEAD = 128;

  // Per-work-item accumulators of the attention ops, so that a row's output or gradient is summed
  // in private memory and written once, instead of read-modify-written in global memory per key.
  @PrivateMemorySpace(MAX_HEAD)
  final float[] accA = new float[MAX_HEAD];
  @PrivateMemorySpace(MAX_HEAD)
  final float[] accB = new float[MAX_HEAD];

  // ---- attention: q, k, v, out [B, T, H, D]; lse [B, H, T]; one work-item per (b, h, row) ------

  /**
   * Query row i of head (b, h) in one pass (online softmax, as FlashAttention): the running maximum m,
   * the running sum l and the output accumulate in private memory; out = acc / l, lse = m + log l.
   * o0 out, o1 lse, o2 q, o3 k, o4 v; d0 = T, d1 = H, d2 = D (at most {@link #MAX_HEAD}); s0 = 1/sqrt(D).
   */
  void attentionOnline(int w) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final float s0 = fa[FA_S0];
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

  /**
   * dq for query row i: D_i = dOut_i . out_i (kept in o7 for the dk/dv pass); ds_ij = p_ij (dOut_i .
   * v_j - D_i); dq_i += scale sum_j ds_ij k_j, summed in private memory and added once.
   * o0 dq, o1 dOut, o2 q, o3 k, o4 v, o5 out, o6 lse, o7 D.
   */
  void attentionBackwardDqOnline(int w) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int o6 = ia[IA_O6];
    final int o7 = ia[IA_O7];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final float s0 = fa[FA_S0];
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
      mem[o0 + qi + e] = s0 * accA[e];
    }
  }

  /**
   * dk, dv for key row j, summed over the queries i >= j that see it, in private memory, and added
   * once. o0 dk, o1 dv, o2 dOut, o3 q, o4 k, o5 v, o6 lse, o7 D (from the dq pass).
   */
  void attentionBackwardDkvOnline(int w) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int o6 = ia[IA_O6];
    final int o7 = ia[IA_O7];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final float s0 = fa[FA_S0];
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
      mem[o0 + kj + e] = s0 * accA[e];
      mem[o1 + kj + e] = accB[e];
    }
  }

  /** q . k over the head dimension for rows qi and kj (element offsets of the rows). */
  float dot(int qBase, int kBase, int dims) {
    float acc = 0f;
    for (int e = 0; e < dims; e++) {
      acc += mem[qBase + e] * mem[kBase + e];
    }
    return acc;
  }

  // ---- attention as batched matmuls (GPUs): heads become the batch dimension --------------------

  /**
   * Permutes [B, T, H, D] into [B, H, T, D] (one unit per element of the output). o0 out, o1 in;
   * d0 = T, d1 = H, d2 = D.
   */
  void headsToBatch(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int e = i % d2;
    final int t = (i / d2) % d0;
    final int hh = (i / (d2 * d0)) % d1;
    final int b = i / (d2 * d0 * d1);
    mem[o0 + i] = mem[o1 + ((b * d0 + t) * d1 + hh) * d2 + e];
  }

  /**
   * Permutes [B, H, T, D] back into [B, T, H, D] (one unit per element of the output); adds to the
   * output when d3 = 1. o0 out, o1 in; d0 = T, d1 = H, d2 = D.
   */
  void batchToHeads(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d3 = ia[IA_D3];
    final int e = i % d2;
    final int hh = (i / d2) % d1;
    final int t = (i / (d2 * d1)) % d0;
    final int b = i / (d2 * d1 * d0);
    final float v = mem[o1 + ((b * d1 + hh) * d0 + t) * d2 + e];
    if (d3 == 1) {
      mem[o0 + i] += v;
    } else {
      mem[o0 + i] = v;
    }
  }

  /**
   * Row r of the scaled scores S [B*H*T, T] (query i = r mod T) becomes causal softmax
   * probabilities in place, and lse[r] their log-sum-exp. o0 S, o1 lse; d0 = T.
   */
  void causalSoftmax(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int i = r % d0;
    final int base = o0 + r * d0;
    float m = NEG_HUGE;
    for (int j = 0; j <= i; j++) {
      m = max(m, mem[base + j]);
    }
    float sum = 0f;
    for (int j = 0; j <= i; j++) {
      sum += exp(mem[base + j] - m);
    }
    final float lse = m + log(sum);
    mem[o1 + r] = lse;
    for (int j = 0; j < d0; j++) {
      mem[base + j] = j <= i ? exp(mem[base + j] - lse) : 0f;
    }
  }

  /** Probabilities again from scores and the saved lse, in place (one unit per score). o0 S, o1 lse; d0 = T. */
  void softmaxFromLse(int u) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int r = u / d0;
    final int j = u - r * d0;
    mem[o0 + u] = j <= r % d0 ? exp(mem[o0 + u] - mem[o1 + r]) : 0f;
  }

  /** Row r: dS = P * (dP - sum_j P dP), written over dP. o0 dP, o1 P; d0 = T. */
  void softmaxBackward(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int base = r * d0;
    float pdp = 0f;
    for (int j = 0; j < d0; j++) {
      pdp += mem[o1 + base + j] * mem[o0 + base + j];
    }
    for (int j = 0; j < d0; j++) {
      mem[o0 + base + j] = mem[o1 + base + j] * (mem[o0 + base + j] - pdp);
    }
  }
}
