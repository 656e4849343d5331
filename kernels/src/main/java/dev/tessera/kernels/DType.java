package dev.tessera.kernels;

/** Element types a tensor can hold: fp32 for values, int32 for token ids and targets. */
public enum DType {
  F32,
  I32
}
