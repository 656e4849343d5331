package dev.tessera.model.train;

import dev.tessera.model.Params;
import dev.tessera.model.optim.AdamW;

/**
 * How one worker's training step takes part in a parallel layout. The parallelism module implements
 * it; for a worker alone ({@link #ALONE}) every method is the identity. Every worker of a layout
 * draws the same global batches; {@link #rows} says which of their rows this worker trains on.
 */
public interface Distribution {
  Distribution ALONE = new Distribution() {
  };

  /** This worker's rows [from, to) of a micro-batch of {@code rows} sequences (its data-parallel share). */
  default int[] rows(int rows) {
    return new int[] {0, rows};
  }

  /** x summed over the data-parallel workers (loss sums). */
  default double sumOverData(double x, long step) {
    return x;
  }

  /**
   * During the last micro-batch's backward: these parameters' gradients are complete (a block's,
   * see {@link dev.tessera.model.layers.Gpt.GradientsReady}); a layout may start summing them.
   */
  default void gradientsReady(java.util.List<dev.tessera.model.Param> params, long step) {
  }

  /**
   * After the last micro-batch's backward: the gradients summed over the data-parallel workers
   * (those {@link #gradientsReady} handed over, and the rest).
   */
  default void reduceGradients(Params params, long step) {
  }

  /**
   * The optimizer update, after clipping: AdamW on the reduced gradients, or what the layout does
   * instead (1-bit Adam's compressed momentum, whose gradients {@link #reduceGradients} left local).
   */
  default void update(AdamW adam, Params params, float lr, long step) {
    adam.step(lr);
  }

  /**
   * The squared norm of the whole model's gradient, from this worker's squared norms of its
   * sharded parameters and of its replicated ones (which every tensor-parallel worker holds whole).
   */
  default double globalSquaredNorm(double sharded, double replicated, long step) {
    return sharded + replicated;
  }
}
