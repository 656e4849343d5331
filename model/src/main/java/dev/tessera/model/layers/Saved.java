package dev.tessera.model.layers;

import dev.tessera.kernels.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * What a layer's forward returns: its output and the tensors its backward needs. Layers keep no
 * per-micro-batch state, so several micro-batches can be in flight; closing frees everything.
 */
public class Saved implements AutoCloseable {
  private final List<AutoCloseable> owned = new ArrayList<>();

  /** Registers a tensor (or nested Saved) to free on close, and returns it. */
  protected final <T extends AutoCloseable> T keep(T t) {
    owned.add(t);
    return t;
  }

  @Override
  public void close() {
    for (int i = owned.size() - 1; i >= 0; i--) {
      try {
        owned.get(i).close();
      } catch (Exception e) {
        throw new IllegalStateException("freeing a saved tensor failed", e);
      }
    }
    owned.clear();
  }
}
