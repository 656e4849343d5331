package dev.tessera.kernels;

/** An op was called with tensors whose shapes, types or owners do not fit; the message names the op. */
public final class ShapeException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public ShapeException(String op, String problem) {
    super(op + ": " + problem);
  }
}
