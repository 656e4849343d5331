package dev.tessera.kernels;

/**
 * How a matmul call's tensors are read, resolved once from their shapes (see {@link Backend#matmul}):
 * {@code batch} independent products of [m,k] x [k,n], with element strides so that transposed
 * operands are plain views. Element (r, kk) of op(A) in batch i sits at
 * {@code i*aBatch + r*aRow + kk*aK}; element (kk, c) of op(B) at {@code i*bBatch + kk*bK + c*bCol};
 * C is contiguous [batch, m, n].
 */
public record MatmulDims(int batch, int m, int n, int k,
    int aRow, int aK, int aBatch, int bK, int bCol, int bBatch) {

  static final String OP = "matmul";

  public static MatmulDims of(Shape out, Shape a, Shape b, boolean transA, boolean transB) {
    int batch;
    int aR;
    int aC;
    int bR;
    int bC;
    if (a.rank() == 3 && b.rank() == 3 && out.rank() == 3) {
      batch = a.dim(0);
      if (b.dim(0) != batch || out.dim(0) != batch) {
        throw mismatch("batch sizes differ", out, a, b, transA, transB);
      }
      aR = a.dim(1);
      aC = a.dim(2);
      bR = b.dim(1);
      bC = b.dim(2);
    } else if (out.rank() == 2 || (b.rank() == 2 && a.rank() == out.rank() && !transA)) {
      batch = 1;
      aR = a.rows();
      aC = a.last();
      bR = b.rows();
      bC = b.last();
      if (out.rank() != 2 && b.rank() != 2) {
        throw mismatch("unsupported ranks", out, a, b, transA, transB);
      }
    } else {
      throw mismatch("unsupported ranks (2-D, batched 3-D, or folded leading dimensions)", out, a, b, transA,
          transB);
    }
    int m = transA ? aC : aR;
    int k = transA ? aR : aC;
    int kb = transB ? bC : bR;
    int n = transB ? bR : bC;
    if (k != kb) {
      throw mismatch("inner dimensions differ (" + k + " vs " + kb + ")", out, a, b, transA, transB);
    }
    if (out.rows() != batch * m || out.last() != n) {
      throw mismatch("out must be [" + (batch > 1 ? batch + ", " : "") + m + ", " + n + "]", out, a, b, transA,
          transB);
    }
    return new MatmulDims(batch, m, n, k,
        transA ? 1 : aC, transA ? aC : 1, aR * aC,
        transB ? 1 : bC, transB ? bC : 1, bR * bC);
  }

  public long flops() {
    return 2L * batch * m * n * k;
  }

  private static ShapeException mismatch(String why, Shape out, Shape a, Shape b, boolean transA, boolean transB) {
    return new ShapeException(OP, why + ": out" + out + " = a" + a + (transA ? "^T" : "") + " x b" + b
        + (transB ? "^T" : ""));
  }
}
