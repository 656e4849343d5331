package dev.tessera.kernels.opencl;

/**
 * The CPU form of the device kernel: the matmul tile over packed operands (pocl vectorises it) and
 * the fused attention ops (private accumulators).
 */
final class CpuKernel extends TesseraKernel {
  @Override
  public void run() {
    final int op = ia[IA_OP];
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      matmulTile();
    } else if (op == Op.ATTENTION_ONLINE || op == Op.ATTENTION_BACKWARD_DQ_ONLINE
        || op == Op.ATTENTION_BACKWARD_DKV_ONLINE) {
      fusedAttentionUnits();
    } else {
      runUnits();
    }
  }

  private void fusedAttentionUnits() {
    final int op = ia[IA_OP];
    final int n = ia[IA_N];
    final int perItem = ia[IA_PER_ITEM];
    final int itemStride = ia[IA_ITEM_STRIDE];
    final int elemStride = ia[IA_ELEM_STRIDE];
    final int w = getGlobalId(0);
    final int first = w * itemStride;
    int count = 0;
    if (first < n) {
      count = min(perItem, (n - first + elemStride - 1) / elemStride);
    }
    if (op == Op.ATTENTION_ONLINE) {
      for (int j = 0; j < count; j++) {
        attentionOnline(first + j * elemStride);
      }
    } else if (op == Op.ATTENTION_BACKWARD_DQ_ONLINE) {
      for (int j = 0; j < count; j++) {
        attentionBackwardDqOnline(first + j * elemStride);
      }
    } else {
      for (int j = 0; j < count; j++) {
        attentionBackwardDkvOnline(first + j * elemStride);
      }
    }
  }
}
