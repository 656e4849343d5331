package dev.tessera.model.train;

/** The loss or the gradient norm became NaN or infinite; the message names the step. */
public final class TrainingDivergedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public TrainingDivergedException(String message) {
    super(message);
  }
}
