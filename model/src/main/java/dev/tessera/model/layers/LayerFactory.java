package dev.tessera.model.layers;

import dev.tessera.model.Params;

/**
 * Builds the layers whose parallel versions differ from the single-worker ones. The model asks
 * this factory, never constructs them itself, so {@code parallelism} can hand in a factory that
 * shards them (Megatron style) without the model knowing.
 */
public interface LayerFactory {

  /** How a tensor-parallel factory would shard a linear layer; the local factory ignores it. */
  enum Split {
    /** Replicated. */
    NONE,
    /** Output features split (q, k, v, MLP up projections). */
    COLUMN,
    /** Input features split, outputs summed (attention and MLP output projections). */
    ROW
  }

  /**
   * A linear layer of the full model's sizes {@code in} x {@code out}; a tensor-parallel factory
   * returns this worker's shard of it (its inputs and outputs then have the shard's sizes).
   */
  LinearLayer linear(Params params, String name, int in, int out, boolean bias, float std, Split split);

  /** The attention heads this worker computes, of {@code heads}. */
  default int localHeads(int heads) {
    return heads;
  }

  /** How activations enter and leave the tensor-parallel region around attention and the MLP. */
  default Region region() {
    return Region.NONE;
  }

  /** How the vocabulary is split, or null when this worker holds all of it. */
  default VocabSplit vocab() {
    return null;
  }

  /** One worker holds everything. */
  LayerFactory LOCAL = (params, name, in, out, bias, std, split) -> new Linear(params, name, in, out, bias, std);
}
