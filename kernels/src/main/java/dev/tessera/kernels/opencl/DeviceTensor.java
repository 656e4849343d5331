package dev.tessera.kernels.opencl;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

/** A tensor resident in the OpenCL backend's device arena, at element offset {@code offset}. */
final class DeviceTensor extends Tensor {
  private final OpenClBackend owner;
  final int offset;
  /** False for views: they share another tensor's storage and free nothing. */
  private final boolean owns;

  DeviceTensor(OpenClBackend owner, DType dtype, Shape shape, int offset) {
    this(owner, dtype, shape, offset, true);
  }

  DeviceTensor(OpenClBackend owner, DType dtype, Shape shape, int offset, boolean owns) {
    super(shape, dtype);
    this.owner = owner;
    this.offset = offset;
    this.owns = owns;
  }

  @Override
  public Backend backend() {
    return owner;
  }

  @Override
  protected void release() {
    if (owns) {
      owner.free(this);
    }
  }
}
