package dev.tessera.kernels.opencl;

/**
 * {@link GpuKernel} with the large matmul tile as well ({@code -Dtessera.gpu.tiles=both}): matmuls
 * whose 128x128 blocks fill the GPU take it, the others the small tile. Its registers and local
 * memory, reserved for every launch, slow every other op (see {@link OpenClBackend}).
 */
final class GpuLargeTileKernel extends TesseraKernel {
  @Override
  public void run() {
    final int op = ia[IA_OP];
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      gpuMatmulTile();
    } else if (op == Op.MATMUL_SMALL) {
      gpuMatmulTileSmall();
    } else if (op == Op.LAYER_NORM_ROWS || op == Op.LAYER_NORM_BACKWARD_DX_ROWS || op == Op.CAUSAL_SOFTMAX_ROWS
        || op == Op.SOFTMAX_BACKWARD_ROWS) {
      // A work-group per row: every work-item takes part (barriers).
      rowGroups();
    } else {
      runUnits();
    }
  }
}
