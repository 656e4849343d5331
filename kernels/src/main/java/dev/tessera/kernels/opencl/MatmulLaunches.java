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
      runInPlace(cl, Strided.of(d, out, a, b), alpha, beta);
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
  /** Fewest k tiles a split takes: shorter splits cost more in the extra launch than they gain. */
  private static final int MIN_SPLIT_TILES = 32;

  /**
   * A matmul for the GPU tile: {@code outer * inner} batches, each C = op(A) x op(B) with element
   * (r, kk) of op(A) at {@code a + o*aOuter + i*aInner + r*aRow + kk*aK}, element (kk, col) of op(B)
   * at {@code b + o*bOuter + i*bInner + kk*bK + col*bCol} and C(r, col) at
   * {@code c + o*cOuter + i*cInner + r*cRow + col}.
   */
  record Strided(int outer, int inner, int m, int n, int k,
      Tensor a, int aOuter, int aInner, int aRow, int aK,
      Tensor b, int bOuter, int bInner, int bK, int bCol,
      Tensor c, int cOuter, int cInner, int cRow) {

    static Strided of(MatmulDims d, Tensor out, Tensor a, Tensor b) {
      return new Strided(d.batch(), 1, d.m(), d.n(), d.k(), a, d.aBatch(), 0, d.aRow(), d.aK(),
          b, d.bBatch(), 0, d.bK(), d.bCol(), out, d.m() * d.n(), 0, d.n());
    }

    boolean contiguousC() {
      return inner == 1 && cRow == n && cOuter == m * n;
    }
  }

  /**
   * The GPU tile ({@link GpuMatmulKernelBase}): operands read in place, one launch. The large tile
   * where its blocks fill the GPU, else the small one (four times the blocks); when C still has
   * too few blocks (and is contiguous), k is split and a second launch sums the partial products.
   */
  static void runInPlace(OpenClBackend cl, Strided g, float alpha, float beta) {
    final int batches = g.outer() * g.inner();
    final int fullGrid = GROUPS_PER_UNIT * cl.device().getMaxComputeUnits();
    int tile = cl.forcedTile;
    if (tile == 0) {
      int large = GpuMatmulKernelBase.GPU_TILE;
      boolean fills = ((g.m() + large - 1) / large) * ((g.n() + large - 1) / large) * batches >= fullGrid;
      tile = cl.largeTile() && fills ? large : GpuMatmulKernelBase.GPU_TILE_SMALL;
    }
    final int rowBlocks = (g.m() + tile - 1) / tile;
    final int colBlocks = (g.n() + tile - 1) / tile;
    final int blocks = rowBlocks * colBlocks * batches;
    final int kTiles = (g.k() + GpuMatmulKernelBase.KT_GPU - 1) / GpuMatmulKernelBase.KT_GPU;
    int splits = Math.max(1, Math.min((fullGrid + blocks - 1) / blocks, kTiles / MIN_SPLIT_TILES));
    if (!g.contiguousC()) {
      splits = 1;
    }
    final int kSplit = (kTiles + splits - 1) / splits * GpuMatmulKernelBase.KT_GPU;
    splits = Math.max(1, (g.k() + kSplit - 1) / kSplit);
    if (splits == 1) {
      tile(cl, g, tile, rowBlocks, colBlocks, 1, kSplit, 0, alpha, beta);
      return;
    }
    final int size = batches * g.m() * g.n();
    try (Tensor partials = cl.scratch(splits * size)) {
      Strided toPartials = new Strided(g.outer(), 1, g.m(), g.n(), g.k(), g.a(), g.aOuter(), 0, g.aRow(), g.aK(),
          g.b(), g.bOuter(), 0, g.bK(), g.bCol(), partials, g.m() * g.n(), 0, g.n());
      tile(cl, toPartials, tile, rowBlocks, colBlocks, splits, kSplit, size, 1f, 0f);
      cl.set(g.c(), partials);
      cl.kernel.d0 = splits;
      cl.kernel.d1 = size;
      cl.kernel.s0 = alpha;
      cl.kernel.s1 = beta;
      cl.launch(Op.SPLIT_K_SUM, size);
    }
  }

  private static void tile(OpenClBackend cl, Strided g, int tile, int rowBlocks, int colBlocks, int splits,
      int kSplit, int splitStride, float alpha, float beta) {
    final TesseraKernel kernel = cl.kernel;
    kernel.gM = g.m();
    kernel.gN = g.n();
    kernel.gK = g.k();
    kernel.gRowBlocks = rowBlocks;
    kernel.gBatch = g.outer() * g.inner();
    kernel.gInner = g.inner();
    kernel.gKSplit = kSplit;
    kernel.gSplitStride = splitStride;
    kernel.gA = OpenClBackend.off(g.a());
    kernel.gABatch = g.aOuter();
    kernel.gABatchIn = g.aInner();
    kernel.gARow = g.aRow();
    kernel.gAK = g.aK();
    kernel.gB = OpenClBackend.off(g.b());
    kernel.gBBatch = g.bOuter();
    kernel.gBBatchIn = g.bInner();
    kernel.gBK = g.bK();
    kernel.gBCol = g.bCol();
    kernel.cOff = OpenClBackend.off(g.c());
    kernel.cBatchStride = g.cOuter();
    kernel.gCBatchIn = g.cInner();
    kernel.gCRow = g.cRow();
    kernel.mmAlpha = alpha;
    kernel.mmBeta = beta;
    int op = tile == GpuMatmulKernelBase.GPU_TILE ? Op.MATMUL : Op.MATMUL_SMALL;
    if (op == Op.MATMUL && !cl.largeTile()) {
      throw new IllegalStateException("the large GPU tile is not in this kernel (-D" + OpenClBackend.TILES_PROPERTY
          + "=small)");
    }
    kernel.op = op;
    cl.execute(op, Range.create2D(cl.device(), colBlocks * GpuMatmulKernelBase.GPU_ITEMS,
        rowBlocks * kernel.gBatch * splits, GpuMatmulKernelBase.GPU_ITEMS, 1));
  }
}
