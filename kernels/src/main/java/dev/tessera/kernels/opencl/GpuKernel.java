package dev.tessera.kernels.opencl;

/**
 * The GPU form of the device kernel: the 2-D register-blocked matmul tile over operands in place,
 * row ops by work-groups ({@link RowGroupKernelBase}), and no fused attention ops (attention runs as batched matmuls), whose private memory would hold
 * back every other op.
 */
final class GpuKernel extends TesseraKernel {
  @Override
  public void run() {
    final int op = ia[IA_OP];
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      gpuMatmulTile();
    } else if (op == Op.LAYER_NORM_ROWS || op == Op.LAYER_NORM_BACKWARD_DX_ROWS || op == Op.CAUSAL_SOFTMAX_ROWS
        || op == Op.SOFTMAX_BACKWARD_ROWS) {
      // A work-group per row: every work-item takes part (barriers).
      rowGroups();
    } else {
      runUnits();
    }
  }
}
