package dev.tessera.kernels.opencl;

import dev.tessera.kernels.Tensor;

/**
 * How the OpenCL backend runs the ops over the rows of a matrix: layer and RMS norms, embeddings and
 * the cross-entropy loss. The norms' and the embedding's parameter gradients are sums over every row;
 * one work-item a column over all rows would be too few for a device, so they are summed in chunks of
 * rows into scratch partials, then the partials are summed.
 */
final class RowLaunches {
  /** Chunks of rows the norm parameter gradients are summed in (then the chunks are summed). */
  static final int NORM_CHUNKS = 64;
  /** Chunks of rows the embedding gradient is summed in, and the most scratch (floats) they may take. */
  static final int EMBEDDING_CHUNKS = 64;
  static final long EMBEDDING_SCRATCH = 4L << 20;

  private final OpenClBackend cl;

  RowLaunches(OpenClBackend cl) {
    this.cl = cl;
  }

  void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
    cl.set(out, mean, rstd, x, weight, bias);
    cl.kernel.d0 = x.shape().last();
    cl.kernel.d1 = bias == null ? 0 : 1;
    cl.kernel.s0 = eps;
    cl.launchRows(Op.LAYER_NORM_ROWS, Op.LAYER_NORM, x.shape().rows());
  }

  void layerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd) {
    cl.set(dx, dOut, x, weight, mean, rstd);
    cl.kernel.d0 = x.shape().last();
    cl.launchRows(Op.LAYER_NORM_BACKWARD_DX_ROWS, Op.LAYER_NORM_BACKWARD_DX, x.shape().rows());
    normParams(dWeight, dBias, dOut, x, mean, rstd);
  }

  private void normParams(Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor mean, Tensor rstd) {
    int cols = x.shape().last();
    int rows = x.shape().rows();
    int chunks = Math.min(rows, NORM_CHUNKS);
    int rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    try (Tensor partials = cl.scratch(2 * chunks * cols)) {
      cl.set(dWeight, dBias, dOut, x, mean, rstd, partials);
      cl.kernel.d0 = cols;
      cl.kernel.d1 = rows;
      cl.kernel.d2 = dBias == null ? 0 : 1;
      cl.kernel.d3 = mean == null ? 0 : 1;
      cl.kernel.d4 = rowsPerChunk;
      cl.launch(Op.NORM_BACKWARD_PARAMS, chunks * cols);
      cl.launch(Op.NORM_BACKWARD_PARAMS_SUM, cols);
    }
  }

  void rmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
    cl.set(out, rstd, x, weight);
    cl.kernel.d0 = x.shape().last();
    cl.kernel.s0 = eps;
    cl.launch(Op.RMS_NORM, x.shape().rows());
  }

  void rmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd) {
    cl.set(dx, dOut, x, weight, rstd);
    cl.kernel.d0 = x.shape().last();
    cl.launch(Op.RMS_NORM_BACKWARD_DX, x.shape().rows());
    normParams(dWeight, null, dOut, x, null, rstd);
  }

  void embedding(Tensor out, Tensor table, Tensor ids, int first) {
    // Ids outside the table give zero rows here, strict or not (the ids are on the device).
    cl.set(out, table, ids);
    cl.kernel.d0 = table.shape().last();
    cl.kernel.d1 = table.shape().dim(0);
    cl.kernel.d5 = first;
    cl.launch(Op.EMBEDDING, out.size());
  }

  void embeddingBackward(Tensor dTable, Tensor dOut, Tensor ids, int first) {
    cl.kernel.d5 = first;
    int cols = dTable.shape().last();
    int vocab = dTable.shape().dim(0);
    int rows = ids.size();
    // Chunks of rows, each into a partial table, while the partial tables stay small (with a
    // large vocabulary they would not: then one work-item per column, as before).
    int chunks = (int) Math.min(Math.min(EMBEDDING_CHUNKS, rows), EMBEDDING_SCRATCH / ((long) vocab * cols));
    if (chunks <= 1) {
      cl.set(dTable, dOut, ids);
      cl.kernel.d0 = cols;
      cl.kernel.d1 = vocab;
      cl.kernel.d2 = rows;
      cl.launch(Op.EMBEDDING_BACKWARD, cols);
      return;
    }
    int rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    try (Tensor partials = cl.scratch(chunks * vocab * cols)) {
      cl.set(dTable, dOut, ids, partials);
      cl.kernel.d0 = cols;
      cl.kernel.d1 = vocab;
      cl.kernel.d2 = rows;
      cl.kernel.d3 = rowsPerChunk;
      cl.kernel.d4 = chunks;
      cl.launch(Op.EMBEDDING_BACKWARD_CHUNK, chunks * cols);
      cl.launch(Op.EMBEDDING_BACKWARD_SUM, vocab * cols);
    }
  }

  void crossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first) {
    cl.set(losses, lse, logits, targets);
    cl.kernel.d0 = logits.shape().last();
    cl.kernel.d5 = first;
    cl.launch(Op.CROSS_ENTROPY, logits.shape().rows());
  }

  void crossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale,
      int first) {
    cl.set(dLogits, logits, targets, lse);
    cl.kernel.d0 = logits.shape().last();
    cl.kernel.d5 = first;
    cl.kernel.s0 = lossScale;
    cl.launch(Op.CROSS_ENTROPY_BACKWARD, logits.size());
  }
}
