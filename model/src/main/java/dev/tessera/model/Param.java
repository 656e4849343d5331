package dev.tessera.model;

import dev.tessera.kernels.Tensor;

/**
 * A trainable tensor with its gradient. {@code decay} says whether AdamW's weight decay applies
 * (matrices: yes; biases and norm weights: no).
 */
public record Param(String name, Tensor value, Tensor grad, boolean decay) {
}
