package dev.tessera.kernels.check;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

import java.util.Random;

/** Test data and error measures. */
public final class Numerics {
  private Numerics() {
  }

  public static float[] uniform(Random rnd, int n, float lo, float hi) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = lo + (hi - lo) * rnd.nextFloat();
    }
    return a;
  }

  /** max |a - b| / max |b|: the error relative to the reference's scale. */
  public static double relativeError(float[] actual, float[] expected) {
    if (actual.length != expected.length) {
      throw new AssertionError("lengths differ: " + actual.length + " vs " + expected.length);
    }
    double diff = 0;
    double scale = 0;
    for (int i = 0; i < actual.length; i++) {
      if (Float.isNaN(actual[i]) != Float.isNaN(expected[i])) {
        return Double.POSITIVE_INFINITY;
      }
      diff = Math.max(diff, Math.abs((double) actual[i] - expected[i]));
      scale = Math.max(scale, Math.abs((double) expected[i]));
    }
    return scale == 0 ? diff : diff / scale;
  }
}
