package dev.tessera.kernels;

import java.util.Arrays;

/** The dimensions of a row-major tensor. Immutable; every dimension is at least 1. */
public final class Shape {
  private final int[] dims;
  private final int size;

  private Shape(int[] dims) {
    if (dims.length == 0) {
      throw new IllegalArgumentException("a shape needs at least one dimension");
    }
    long n = 1;
    for (int d : dims) {
      if (d < 1) {
        throw new IllegalArgumentException("dimensions must be positive: " + Arrays.toString(dims));
      }
      n *= d;
    }
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("shape " + Arrays.toString(dims) + " holds more than 2^31 elements");
    }
    this.dims = dims;
    this.size = (int) n;
  }

  public static Shape of(int... dims) {
    return new Shape(dims.clone());
  }

  public int rank() {
    return dims.length;
  }

  public int dim(int i) {
    return dims[i < 0 ? dims.length + i : i];
  }

  /** Number of elements. */
  public int size() {
    return size;
  }

  /** The last dimension (the contiguous one). */
  public int last() {
    return dims[dims.length - 1];
  }

  /** Product of all but the last dimension: the number of rows when the tensor is seen as 2-D. */
  public int rows() {
    return size / last();
  }

  public int[] toArray() {
    return dims.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Shape s && Arrays.equals(dims, s.dims);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(dims);
  }

  @Override
  public String toString() {
    return Arrays.toString(dims);
  }
}
