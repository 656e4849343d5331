package dev.tessera.kernels.opencl;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

/** A tensor resident in the OpenCL backend's device arena, at element offset {@code offset}. */
final class DeviceTensor extends Tensor {
  private final OpenClBackend owner;
  final int offset;

  DeviceTensor(OpenClBackend owner, DType dtype, Shape shape, int offset) {
    super(shape, dtype);
    this.owner = owner;
    this.offset = offset;
  }

  @Override
  public Backend backend() {
    return owner;
  }

  @Override
  protected void release() {
    owner.free(this);
  }
}
