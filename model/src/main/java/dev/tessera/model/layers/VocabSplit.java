package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;

/**
 * The vocabulary split over the workers of a tensor-parallel group (Megatron's vocab-parallel
 * embedding and cross-entropy): the vocabulary is padded to a multiple of {@link #parts}, and part
 * i holds rows [i * shard, (i + 1) * shard) of the embedding table and the logits of those classes.
 * The full logits are never gathered: the loss combines each part's log-sum-exp and target logit.
 */
public interface VocabSplit {
  int parts();

  int index();

  /** x summed over the parts, in place. */
  void sum(Backend be, Tensor x);

  /** x summed over the parts, in place. */
  void sum(float[] x);

  /** Every part's x (all of one length), part after part. */
  float[] gather(float[] x);
}
