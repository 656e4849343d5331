package dev.tessera.kernels.opencl;

import com.aparapi.Range;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Tensor;

/**
 * How the OpenCL backend runs a matmul: two packing launches copy op(A) and op(B) into zero-padded
 * tiles in scratch memory (absorbing transposes, batch strides and ragged edges), then the
 * register-blocked tile of {@link MatmulKernelBase} runs over them. See docs/kernels.md.
 */
final class MatmulLaunches {
  private MatmulLaunches() {
  }

  static void run(OpenClBackend cl, Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta) {
    final TesseraKernel kernel = cl.kernel;
    final int kTiles = (d.k() + MatmulKernelBase.TILE_K - 1) / MatmulKernelBase.TILE_K;
    final int rowBlocks = (d.m() + MatmulKernelBase.TILE_ROWS - 1) / MatmulKernelBase.TILE_ROWS;
    final int colBlocks = (d.n() + MatmulKernelBase.TILE_COLS - 1) / MatmulKernelBase.TILE_COLS;
    final int aPackBatch = rowBlocks * kTiles * MatmulKernelBase.TILE_K * MatmulKernelBase.TILE_ROWS;
    final int bPackBatch = colBlocks * kTiles * MatmulKernelBase.TILE_K * MatmulKernelBase.TILE_COLS;
    try (Tensor aPack = cl.scratch(d.batch() * aPackBatch); Tensor bPack = cl.scratch(d.batch() * bPackBatch)) {
      kernel.mmRowBlocks = rowBlocks;
      kernel.o0 = OpenClBackend.off(aPack);
      kernel.o1 = OpenClBackend.off(a);
      kernel.o2 = d.aBatch();
      kernel.d0 = d.m();
      kernel.d1 = d.k();
      kernel.d2 = kTiles;
      kernel.d3 = d.aRow();
      kernel.d4 = d.aK();
      cl.launch(Op.PACK_A, d.batch() * aPackBatch / MatmulKernelBase.TILE_ROWS);

      kernel.o0 = OpenClBackend.off(bPack);
      kernel.o1 = OpenClBackend.off(b);
      kernel.o2 = d.bBatch();
      kernel.o3 = colBlocks;
      kernel.d0 = d.n();
      kernel.d3 = d.bK();
      kernel.d4 = d.bCol();
      cl.launch(Op.PACK_B, d.batch() * bPackBatch / MatmulKernelBase.TILE_COLS);

      kernel.mmM = d.m();
      kernel.mmN = d.n();
      kernel.mmKTiles = kTiles;
      kernel.aPackOff = OpenClBackend.off(aPack);
      kernel.aPackBatch = aPackBatch;
      kernel.bPackOff = OpenClBackend.off(bPack);
      kernel.bPackBatch = bPackBatch;
      kernel.cOff = OpenClBackend.off(out);
      kernel.cBatchStride = d.m() * d.n();
      kernel.mmAlpha = alpha;
      kernel.mmBeta = beta;
      kernel.op = Op.MATMUL;
      cl.execute(Op.MATMUL, Range.create2D(cl.device(), colBlocks * MatmulKernelBase.TILE_COLS, rowBlocks * d.batch(),
          MatmulKernelBase.TILE_COLS, 1));
    }
  }

}
