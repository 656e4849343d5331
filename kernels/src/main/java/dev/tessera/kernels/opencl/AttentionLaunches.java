package dev.tessera.kernels.opencl;

import dev.tessera.kernels.DType;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

/**
 * How the OpenCL backend runs attention. Fused (CPU form of the kernel): per-row kernels that never
 * hold the T x T scores, with private accumulators (head sizes up to 128; larger heads use
 * matmuls). As batched matmuls (GPU form, over the heads of q, k, v in place through the GPU tile's
 * strides; the CPU form's tile needs q, k, v permuted to [B*H, T, D] first): scores and gradients go
 * through the matmul tile
 * (S = q k^T / sqrt(D), out = P v; backward dP = dO v^T, dV = P^T dO, dS = P (dP - rowsum(P dP)),
 * dQ = dS k / sqrt(D), dK = dS^T q / sqrt(D)), which is what a GPU is fast at; it needs B*H*T*T
 * floats of scratch.
 */
final class AttentionLaunches {
  private final OpenClBackend cl;

  AttentionLaunches(OpenClBackend cl) {
    this.cl = cl;
  }

  private void dims(Tensor q) {
    Shape s = q.shape();
    cl.kernel.d0 = s.dim(1);
    cl.kernel.d1 = s.dim(2);
    cl.kernel.d2 = s.dim(3);
    cl.kernel.s0 = (float) (1.0 / Math.sqrt(s.dim(3)));
  }

  /** Whether the head fits the private accumulators of the fused kernels. */
  private static boolean privateHeads(Tensor q) {
    return q.shape().dim(3) <= AttentionKernelBase.MAX_HEAD;
  }

  void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    if (cl.gpuKernel()) {
      forwardInPlace(out, lse, q, k, v);
      return;
    }
    if (!privateHeads(q)) {
      forwardByMatmuls(out, lse, q, k, v);
      return;
    }
    cl.set(out, lse, q, k, v);
    dims(q);
    cl.launch(Op.ATTENTION_ONLINE, lse.size());
  }

  void backward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor out,
      Tensor lse) {
    if (cl.gpuKernel()) {
      backwardInPlace(dq, dk, dv, dOut, q, k, v, lse);
      return;
    }
    if (!privateHeads(q)) {
      backwardByMatmuls(dq, dk, dv, dOut, q, k, v, lse);
      return;
    }
    try (Tensor rowDots = cl.scratch(lse.size())) {
      cl.set(dq, dOut, q, k, v, out, lse, rowDots);
      dims(q);
      cl.launch(Op.ATTENTION_BACKWARD_DQ_ONLINE, lse.size());
      cl.set(dk, dv, dOut, q, k, v, lse, rowDots);
      cl.launch(Op.ATTENTION_BACKWARD_DKV_ONLINE, lse.size());
    }
  }

  // ---- as batched matmuls -----------------------------------------------------------------------

  /** A [B*H, T, D] copy of x [B, T, H, D]. */
  private Tensor toBatch(Tensor x) {
    Shape s = x.shape();
    Tensor t = cl.empty(DType.F32, Shape.of(s.dim(0) * s.dim(2), s.dim(1), s.dim(3)));
    cl.set(t, x);
    dims(x);
    cl.launch(Op.HEADS_TO_BATCH, x.size());
    return t;
  }

  /** y [B, T, H, D] = (or +=) x [B*H, T, D]. */
  private void fromBatch(Tensor y, Tensor x, boolean add) {
    cl.set(y, x);
    dims(y);
    cl.kernel.d3 = add ? 1 : 0;
    cl.launch(Op.BATCH_TO_HEADS, y.size());
  }

  private void mm(Tensor c, Tensor a, Tensor b, boolean ta, boolean tb, float alpha) {
    cl.doMatmul(c, a, b, MatmulDims.of(c.shape(), a.shape(), b.shape(), ta, tb), alpha, 0f);
  }

  /** Scores S = q k^T / sqrt(D), [B*H, T, T]. */
  private Tensor scores(Tensor qb, Tensor kb, int t, float scale) {
    Tensor s = cl.empty(DType.F32, Shape.of(qb.shape().dim(0), t, t));
    mm(s, qb, kb, false, true, scale);
    return s;
  }

  private void forwardByMatmuls(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    int t = q.shape().dim(1);
    float scale = (float) (1.0 / Math.sqrt(q.shape().dim(3)));
    try (Tensor qb = toBatch(q); Tensor kb = toBatch(k); Tensor vb = toBatch(v);
        Tensor p = scores(qb, kb, t, scale); Tensor ob = cl.empty(DType.F32, qb.shape())) {
      cl.set(p, lse);
      cl.kernel.d0 = t;
      cl.launch(Op.CAUSAL_SOFTMAX, lse.size());
      mm(ob, p, vb, false, false, 1f);
      fromBatch(out, ob, false);
    }
  }

  private void backwardByMatmuls(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor lse) {
    int t = q.shape().dim(1);
    float scale = (float) (1.0 / Math.sqrt(q.shape().dim(3)));
    try (Tensor qb = toBatch(q); Tensor kb = toBatch(k); Tensor vb = toBatch(v); Tensor dob = toBatch(dOut);
        Tensor p = scores(qb, kb, t, scale); Tensor dp = cl.empty(DType.F32, p.shape());
        Tensor grad = cl.empty(DType.F32, qb.shape())) {
      cl.set(p, lse);
      cl.kernel.d0 = t;
      cl.launch(Op.SOFTMAX_FROM_LSE, p.size());
      mm(dp, dob, vb, false, true, 1f);
      mm(grad, p, dob, true, false, 1f);
      fromBatch(dv, grad, false);
      cl.set(dp, p);
      cl.kernel.d0 = t;
      cl.launch(Op.SOFTMAX_BACKWARD, lse.size());
      mm(grad, dp, kb, false, false, scale);
      fromBatch(dq, grad, false);
      mm(grad, dp, qb, true, false, scale);
      fromBatch(dk, grad, false);
    }
  }

  // ---- as batched matmuls over the heads in place (the GPU tile takes strides) -------------------

  /** C [B*H, T, T] (contiguous) = x y^T over the heads of x, y [B, T, H, D]. */
  private void scoresInPlace(Tensor c, Tensor x, Tensor y, float alpha) {
    Shape s = x.shape();
    int t = s.dim(1);
    int hd = s.dim(2) * s.dim(3);
    MatmulLaunches.runInPlace(cl, new MatmulLaunches.Strided(s.dim(0), s.dim(2), t, t, s.dim(3),
        x, t * hd, s.dim(3), hd, 1, y, t * hd, s.dim(3), 1, hd, c, s.dim(2) * t * t, t * t, t), alpha, 0f);
  }

  /** y [B, T, H, D] = alpha * op(P) x over the heads, op(P) = P or P^T for P [B*H, T, T]; beta 0 or 1. */
  private void headsInPlace(Tensor y, Tensor p, boolean transP, Tensor x, float alpha, float beta) {
    Shape s = x.shape();
    int t = s.dim(1);
    int hd = s.dim(2) * s.dim(3);
    MatmulLaunches.runInPlace(cl, new MatmulLaunches.Strided(s.dim(0), s.dim(2), t, s.dim(3), t,
        p, s.dim(2) * t * t, t * t, transP ? 1 : t, transP ? t : 1, x, t * hd, s.dim(3), hd, 1,
        y, t * hd, s.dim(3), hd), alpha, beta);
  }

  private void forwardInPlace(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    Shape s = q.shape();
    int t = s.dim(1);
    float scale = (float) (1.0 / Math.sqrt(s.dim(3)));
    try (Tensor p = cl.empty(DType.F32, Shape.of(s.dim(0) * s.dim(2), t, t))) {
      scoresInPlace(p, q, k, scale);
      cl.set(p, lse);
      cl.kernel.d0 = t;
      cl.launchRows(Op.CAUSAL_SOFTMAX_ROWS, Op.CAUSAL_SOFTMAX, lse.size());
      headsInPlace(out, p, false, v, 1f, 0f);
    }
  }

  private void backwardInPlace(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor lse) {
    Shape s = q.shape();
    int t = s.dim(1);
    float scale = (float) (1.0 / Math.sqrt(s.dim(3)));
    try (Tensor p = cl.empty(DType.F32, Shape.of(s.dim(0) * s.dim(2), t, t));
        Tensor dp = cl.empty(DType.F32, p.shape())) {
      scoresInPlace(p, q, k, scale);
      cl.set(p, lse);
      cl.kernel.d0 = t;
      cl.launch(Op.SOFTMAX_FROM_LSE, p.size());
      scoresInPlace(dp, dOut, v, 1f);
      headsInPlace(dv, p, true, dOut, 1f, 0f);
      cl.set(dp, p);
      cl.kernel.d0 = t;
      cl.launchRows(Op.SOFTMAX_BACKWARD_ROWS, Op.SOFTMAX_BACKWARD, lse.size());
      headsInPlace(dq, dp, false, k, scale, 0f);
      headsInPlace(dk, dp, true, q, scale, 0f);
    }
  }
}
