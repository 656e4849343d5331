package dev.tessera.kernels.reference;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

/** A tensor held in a Java array: {@code f} for f32, {@code i} for i32. */
public final class HostTensor extends Tensor {
  private final Backend owner;
  final float[] f;
  final int[] i;

  HostTensor(Backend owner, DType dtype, Shape shape) {
    super(shape, dtype);
    this.owner = owner;
    this.f = dtype == DType.F32 ? new float[shape.size()] : null;
    this.i = dtype == DType.I32 ? new int[shape.size()] : null;
  }

  /** A view of {@code base}'s arrays with another shape. */
  HostTensor(HostTensor base, Shape shape) {
    super(shape, base.dtype());
    this.owner = base.owner;
    this.f = base.f;
    this.i = base.i;
  }

  @Override
  public Backend backend() {
    return owner;
  }

  @Override
  protected void release() {
    // Garbage-collected.
  }
}
