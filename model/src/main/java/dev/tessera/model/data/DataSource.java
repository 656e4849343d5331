package dev.tessera.model.data;

import dev.tessera.model.Rng;
import java.util.Optional;

/** Where training batches come from. Validation batches are fixed by their index. */
public interface DataSource {
  Tokenizer tokenizer();

  /** A random training batch drawn with {@code rng} (the only randomness: resumable). */
  Batch train(Rng rng, int batch, int block);

  /** Validation batch number {@code index}: the same every time it is asked for. */
  Batch validation(int index, int batch, int block);

  String describe();

  /** Reference losses a model can be compared with, when the source knows them. */
  default Optional<Baselines> baselines() {
    return Optional.empty();
  }

  /** Per-token losses of simple predictors on a batch's targets. */
  interface Baselines {
    /** The best achievable expected loss (nats per token) on this batch. */
    double bayesOptimal(Batch b);

    /** The loss of predicting from in-context token frequencies alone. */
    double unigram(Batch b);

    /** ln(vocabulary): the loss of a uniform guess. */
    double contextFree();
  }
}
