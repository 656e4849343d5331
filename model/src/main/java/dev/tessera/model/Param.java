package dev.tessera.model;

import dev.tessera.kernels.Tensor;

/**
 * A trainable tensor with its gradient. {@code decay} says whether AdamW's weight decay applies
 * (matrices: yes; biases and norm weights: no). Layers ask for {@link #value} and {@link #grad} at
 * each use: {@link Params#pack} moves both into shared storage after the model is built.
 */
public final class Param {
  private final String name;
  private final boolean decay;
  private Tensor value;
  private Tensor grad;

  Param(String name, Tensor value, Tensor grad, boolean decay) {
    this.name = name;
    this.value = value;
    this.grad = grad;
    this.decay = decay;
  }

  public String name() {
    return name;
  }

  public Tensor value() {
    return value;
  }

  public Tensor grad() {
    return grad;
  }

  public boolean decay() {
    return decay;
  }

  void moveTo(Tensor newValue, Tensor newGrad) {
    this.value = newValue;
    this.grad = newGrad;
  }

  @Override
  public String toString() {
    return "Param[" + name + " " + value.shape() + (decay ? ", decay" : "") + "]";
  }
}
