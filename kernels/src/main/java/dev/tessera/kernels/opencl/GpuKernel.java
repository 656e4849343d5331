package dev.tessera.kernels.opencl;

/**
 * The GPU form of the device kernel: the small 2-D register-blocked matmul tile over operands in
 * place, row ops by work-groups ({@link RowGroupKernelBase}), and no fused attention ops (attention
 * runs as batched matmuls). A kernel's registers and local memory are those of its most demanding op,
 * reserved for every launch: without the large tile's 64 accumulators and 16 KiB of local memory
 * (and the fused attention's private arrays), more work-items of the element-wise and row ops fit on
 * each compute unit. {@link GpuLargeTileKernel} adds the large tile.
 */
final class GpuKernel extends TesseraKernel {
  GpuKernel() {
    gTileA = new float[GPU_LOCAL_FLOATS_SMALL];
    gTileB = new float[GPU_LOCAL_FLOATS_SMALL];
  }

  @Override
  public void run() {
    final int op = ia[IA_OP];
    if (op == Op.MATMUL_SMALL) {
      gpuMatmulTileSmall();
    } else if (op == Op.LAYER_NORM_ROWS || op == Op.LAYER_NORM_BACKWARD_DX_ROWS || op == Op.CAUSAL_SOFTMAX_ROWS
        || op == Op.SOFTMAX_BACKWARD_ROWS) {
      rowGroups();
    } else {
      runUnits();
    }
  }
}
