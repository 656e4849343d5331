package dev.tessera.kernels;

/**
 * A row-major tensor owned by one {@link Backend}. Where its elements live (a Java array, a region
 * of device memory) is the backend's business; crossing to the host is explicit, through
 * {@link Backend#read} and {@link Backend#write}. Close a tensor to give its memory back.
 */
public abstract class Tensor implements AutoCloseable {
  private final Shape shape;
  private final DType dtype;
  private boolean closed;

  protected Tensor(Shape shape, DType dtype) {
    this.shape = shape;
    this.dtype = dtype;
  }

  public final Shape shape() {
    return shape;
  }

  public final DType dtype() {
    return dtype;
  }

  public final int size() {
    return shape.size();
  }

  public final boolean isClosed() {
    return closed;
  }

  /** The backend that owns this tensor. */
  public abstract Backend backend();

  @Override
  public final void close() {
    if (!closed) {
      closed = true;
      release();
    }
  }

  /** Gives the storage back to the backend; called once. */
  protected abstract void release();

  @Override
  public String toString() {
    return (dtype == DType.F32 ? "f32" : "i32") + shape;
  }
}
