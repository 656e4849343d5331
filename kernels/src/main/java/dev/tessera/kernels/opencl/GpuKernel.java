package dev.tessera.kernels.opencl;

/**
 * The GPU form of the device kernel: the 2-D register-blocked matmul tile over operands in place,
 * and no fused attention ops (attention runs as batched matmuls), whose private memory would hold
 * back every other op.
 */
final class GpuKernel extends TesseraKernel {
  @Override
  public void run() {
    if (op == Op.MATMUL) {
      // Every work-item takes part: the tile has barriers.
      gpuMatmulTile();
    } else {
      runUnits();
    }
  }
}
