package dev.tessera.model;

/**
 * A small random generator whose whole state is one {@code long} (SplitMix64), so that a run can
 * save it in a checkpoint and resume bit-identically. Not for cryptography.
 */
public final class Rng {
  private long state;

  public Rng(long seed) {
    this.state = seed;
  }

  /** A generator for a named stream derived from a seed (e.g. one per parameter tensor). */
  public static Rng derive(long seed, String stream) {
    long h = 1125899906842597L;
    for (int i = 0; i < stream.length(); i++) {
      h = 31 * h + stream.charAt(i);
    }
    return new Rng(mix(seed ^ mix(h)));
  }

  public long state() {
    return state;
  }

  public void setState(long state) {
    this.state = state;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  public long nextLong() {
    state += 0x9E3779B97F4A7C15L;
    return mix(state);
  }

  /** Uniform in [0, 1). */
  public double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  /** Uniform in [0, bound). */
  public int nextInt(int bound) {
    if (bound <= 0) {
      throw new IllegalArgumentException("bound must be positive: " + bound);
    }
    return (int) ((nextLong() >>> 1) % bound);
  }

  /** Standard normal (Box-Muller; one value per call, so the state stays a single long). */
  public double nextGaussian() {
    double u1 = 1.0 - nextDouble();
    double u2 = nextDouble();
    return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang; for shape below 1 via Gamma(shape + 1) * U^(1/shape). */
  public double nextGamma(double shape) {
    if (shape < 1) {
      return nextGamma(shape + 1) * Math.pow(1.0 - nextDouble(), 1.0 / shape);
    }
    double d = shape - 1.0 / 3;
    double c = 1 / Math.sqrt(9 * d);
    while (true) {
      double x = nextGaussian();
      double v = 1 + c * x;
      if (v <= 0) {
        continue;
      }
      v = v * v * v;
      double u = nextDouble();
      if (Math.log(1.0 - u) < 0.5 * x * x + d - d * v + d * Math.log(v)) {
        return d * v;
      }
    }
  }

  /** A draw from the symmetric Dirichlet(alpha) over {@code n} outcomes. */
  public double[] nextDirichlet(int n, double alpha) {
    double[] p = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      p[i] = nextGamma(alpha);
      sum += p[i];
    }
    for (int i = 0; i < n; i++) {
      p[i] /= sum;
    }
    return p;
  }
}
