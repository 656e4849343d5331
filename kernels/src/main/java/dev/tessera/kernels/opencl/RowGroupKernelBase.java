package dev.tessera.kernels.opencl;

/**
 * Row ops for GPUs: one work-group of {@value #ROW_GROUP} work-items per row, which read the row
 * together (consecutive work-items, consecutive elements) and reduce through local memory. The
 * one-work-item-per-row forms of {@link OpsKernelBase} and {@link AttentionKernelBase} read a row
 * alone, which suits a CPU but on a GPU makes neighbouring work-items read addresses a row apart.
 * Every work-item of a group must reach each barrier, so these run from {@code run()} directly.
 */
abstract class RowGroupKernelBase extends AttentionKernelBase {
  static final int ROW_GROUP = 64;

  @Local final float[] rowRed = new float[ROW_GROUP];

  /** The sum of every work-item's v over the work-group, returned to all of them. */
  private float groupSum(float v) {
    final int l = getLocalId(0);
    rowRed[l] = v;
    localBarrier();
    // Written out: pocl mis-runs barriers inside a loop here (wrong sums for every group but the first).
    sumStep(l, 32);
    sumStep(l, 16);
    sumStep(l, 8);
    sumStep(l, 4);
    sumStep(l, 2);
    sumStep(l, 1);
    final float total = rowRed[0];
    localBarrier();
    return total;
  }

  private void sumStep(int l, int s) {
    if (l < s) {
      rowRed[l] = rowRed[l] + rowRed[l + s];
    }
    localBarrier();
  }

  /** The maximum of every work-item's v over the work-group, returned to all of them. */
  private float groupMax(float v) {
    final int l = getLocalId(0);
    rowRed[l] = v;
    localBarrier();
    maxStep(l, 32);
    maxStep(l, 16);
    maxStep(l, 8);
    maxStep(l, 4);
    maxStep(l, 2);
    maxStep(l, 1);
    final float total = rowRed[0];
    localBarrier();
    return total;
  }

  private void maxStep(int l, int s) {
    if (l < s) {
      rowRed[l] = max(rowRed[l], rowRed[l + s]);
    }
    localBarrier();
  }

  protected void rowGroups() {
    final int op = ia[IA_OP];
    if (op == Op.LAYER_NORM_ROWS) {
      layerNormRow();
    } else if (op == Op.LAYER_NORM_BACKWARD_DX_ROWS) {
      layerNormBackwardDxRow();
    } else if (op == Op.CAUSAL_SOFTMAX_ROWS) {
      causalSoftmaxRow();
    } else {
      softmaxBackwardRow();
    }
  }

  /** As {@link #layerNorm}, row = group. */
  private void layerNormRow() {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final float s0 = fa[FA_S0];
    final int r = getGroupId(0);
    final int l = getLocalId(0);
    final int base = r * d0;
    float s = 0f;
    for (int j = l; j < d0; j += ROW_GROUP) {
      s += mem[o3 + base + j];
    }
    final float mu = groupSum(s) / d0;
    float v = 0f;
    for (int j = l; j < d0; j += ROW_GROUP) {
      final float dv = mem[o3 + base + j] - mu;
      v += dv * dv;
    }
    final float rs = 1f / sqrt(groupSum(v) / d0 + s0);
    for (int j = l; j < d0; j += ROW_GROUP) {
      final float b = d1 == 1 ? mem[o5 + j] : 0f;
      mem[o0 + base + j] = (mem[o3 + base + j] - mu) * rs * mem[o4 + j] + b;
    }
    if (l == 0) {
      mem[o1 + r] = mu;
      mem[o2 + r] = rs;
    }
  }

  /** As {@link #layerNormBackwardDx}, row = group. */
  private void layerNormBackwardDxRow() {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int d0 = ia[IA_D0];
    final int r = getGroupId(0);
    final int l = getLocalId(0);
    final int base = r * d0;
    final float mu = mem[o4 + r];
    final float rs = mem[o5 + r];
    float sDn = 0f;
    float sDnN = 0f;
    for (int j = l; j < d0; j += ROW_GROUP) {
      final float nrm = (mem[o2 + base + j] - mu) * rs;
      final float dn = mem[o1 + base + j] * mem[o3 + j];
      sDn += dn;
      sDnN += dn * nrm;
    }
    final float meanDn = groupSum(sDn) / d0;
    final float meanDnN = groupSum(sDnN) / d0;
    // Loaded again after the barriers: pocl lost values held across them in this op.
    final int r2 = getGroupId(0);
    final float mu2 = mem[o4 + r2];
    final float rs2 = mem[o5 + r2];
    final int base2 = r2 * d0;
    for (int j = getLocalId(0); j < d0; j += ROW_GROUP) {
      final float nrm = (mem[o2 + base2 + j] - mu2) * rs2;
      final float dn = mem[o1 + base2 + j] * mem[o3 + j];
      mem[o0 + base2 + j] += (dn - meanDn - nrm * meanDnN) * rs2;
    }
  }

  /** As {@link #causalSoftmax}, row = group. */
  private void causalSoftmaxRow() {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int r = getGroupId(0);
    final int l = getLocalId(0);
    final int i = r % d0;
    final int base = o0 + r * d0;
    float m = NEG_HUGE;
    for (int j = l; j <= i; j += ROW_GROUP) {
      m = max(m, mem[base + j]);
    }
    m = groupMax(m);
    float sum = 0f;
    for (int j = l; j <= i; j += ROW_GROUP) {
      sum += exp(mem[base + j] - m);
    }
    final float lse = m + log(groupSum(sum));
    for (int j = l; j < d0; j += ROW_GROUP) {
      mem[base + j] = j <= i ? exp(mem[base + j] - lse) : 0f;
    }
    if (l == 0) {
      mem[o1 + r] = lse;
    }
  }

  /** As {@link #softmaxBackward}, row = group. */
  private void softmaxBackwardRow() {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int r = getGroupId(0);
    final int l = getLocalId(0);
    final int base = r * d0;
    float pdp = 0f;
    for (int j = l; j < d0; j += ROW_GROUP) {
      pdp += mem[o1 + base + j] * mem[o0 + base + j];
    }
    pdp = groupSum(pdp);
    for (int j = l; j < d0; j += ROW_GROUP) {
      mem[o0 + base + j] = mem[o1 + base + j] * (mem[o0 + base + j] - pdp);
    }
  }
}
