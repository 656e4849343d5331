package dev.tessera.kernels.opencl;

import com.aparapi.Range;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Tensor;

/**
 * How the OpenCL backend runs a matmul. On the GPU form of the kernel, one launch of the GPU tile
 * over the operands in place. On the CPU form, two packing launches copy op(A) and op(B) into zero-padded
 * tiles in scratch memory (absorbing transposes, batch strides and ragged edges), then the
 * register-blocked tile of {@link MatmulKernelBase} runs over them. See docs/kernels.md.
 */
final class MatmulLaunches {
  private MatmulLaunches() {
  }

  static void run(OpenClBackend cl, Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta) {
    if (cl.gpuKernel()) {
      runInPlace(cl, out, a, b, d, alpha, beta);
      return;
    }
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

  /** Work-groups per compute unit that fill the GPU. */
  private static final int GROUPS_PER_UNIT = 2;
  /** Fewest k tiles a split takes. */
  private static final int MIN_SPLIT_TILES = 8;

  /**
   * The GPU tile ({@link GpuMatmulKernelBase}): operands read in place, one launch; when C has too
   * few blocks to fill the GPU, k is split and a second launch sums the partial products.
   */
  private static void runInPlace(OpenClBackend cl, Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha,
      float beta) {
    final int tile = GpuMatmulKernelBase.GPU_TILE;
    final int rowBlocks = (d.m() + tile - 1) / tile;
    final int colBlocks = (d.n() + tile - 1) / tile;
    final int blocks = rowBlocks * colBlocks * d.batch();
    final int kTiles = (d.k() + GpuMatmulKernelBase.KT_GPU - 1) / GpuMatmulKernelBase.KT_GPU;
    final int fullGrid = GROUPS_PER_UNIT * cl.device().getMaxComputeUnits();
    int splits = Math.max(1, Math.min((fullGrid + blocks - 1) / blocks, kTiles / MIN_SPLIT_TILES));
    final int kSplit = (kTiles + splits - 1) / splits * GpuMatmulKernelBase.KT_GPU;
    splits = (d.k() + kSplit - 1) / kSplit;
    final int size = d.batch() * d.m() * d.n();
    if (splits == 1) {
      tile(cl, out, a, b, d, rowBlocks, colBlocks, 1, kSplit, 0, alpha, beta);
      return;
    }
    try (Tensor partials = cl.scratch(splits * size)) {
      tile(cl, partials, a, b, d, rowBlocks, colBlocks, splits, kSplit, size, 1f, 0f);
      cl.set(out, partials);
      cl.kernel.d0 = splits;
      cl.kernel.d1 = size;
      cl.kernel.s0 = alpha;
      cl.kernel.s1 = beta;
      cl.launch(Op.SPLIT_K_SUM, size);
    }
  }

  private static void tile(OpenClBackend cl, Tensor c, Tensor a, Tensor b, MatmulDims d, int rowBlocks,
      int colBlocks, int splits, int kSplit, int splitStride, float alpha, float beta) {
    final TesseraKernel kernel = cl.kernel;
    kernel.gM = d.m();
    kernel.gN = d.n();
    kernel.gK = d.k();
    kernel.gRowBlocks = rowBlocks;
    kernel.gBatch = d.batch();
    kernel.gKSplit = kSplit;
    kernel.gSplitStride = splitStride;
    kernel.gA = OpenClBackend.off(a);
    kernel.gABatch = d.aBatch();
    kernel.gARow = d.aRow();
    kernel.gAK = d.aK();
    kernel.gB = OpenClBackend.off(b);
    kernel.gBBatch = d.bBatch();
    kernel.gBK = d.bK();
    kernel.gBCol = d.bCol();
    kernel.cOff = OpenClBackend.off(c);
    kernel.cBatchStride = d.m() * d.n();
    kernel.mmAlpha = alpha;
    kernel.mmBeta = beta;
    kernel.op = Op.MATMUL;
    cl.execute(Op.MATMUL, Range.create2D(cl.device(), colBlocks * GpuMatmulKernelBase.GPU_ITEMS,
        rowBlocks * d.batch() * splits, GpuMatmulKernelBase.GPU_ITEMS, 1));
  }
}
