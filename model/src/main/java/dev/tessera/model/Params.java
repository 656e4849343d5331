package dev.tessera.model;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every parameter of a model, by name, in creation order. Initial values come from the seed and the
 * parameter's name alone, so they do not depend on the order of creation or on how a parallel
 * layout later shards them.
 */
public final class Params implements AutoCloseable {
  private final Backend backend;
  private final long seed;
  private final Map<String, Param> byName = new LinkedHashMap<>();
  private final java.util.Set<String> sliced = new java.util.HashSet<>();

  public Params(Backend backend, long seed) {
    this.backend = backend;
    this.seed = seed;
  }

  public Backend backend() {
    return backend;
  }

  /** A parameter drawn from N(0, std^2). */
  public Param normal(String name, float std, int... dims) {
    Rng rng = Rng.derive(seed, name);
    float[] v = new float[sizeOf(dims, 0)];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (rng.nextGaussian() * std);
    }
    return add(name, v, dims, dims.length >= 2);
  }

  /**
   * Part {@code part} of {@code parts} equal slices, along dimension {@code dim} (0 or 1), of the
   * parameter {@link #normal} would draw with these full dimensions: the same values whatever the
   * layout, so that layouts can be compared.
   */
  public Param normalSlice(String name, float std, int dim, int part, int parts, int... fullDims) {
    Rng rng = Rng.derive(seed, name);
    float[] full = new float[sizeOf(fullDims, 0)];
    for (int i = 0; i < full.length; i++) {
      full[i] = (float) (rng.nextGaussian() * std);
    }
    return sliceOf(name, full, dim, part, parts, fullDims, fullDims.length >= 2);
  }

  /** Part {@code part} of {@code parts} slices of a constant parameter (see {@link #normalSlice}). */
  public Param constantSlice(String name, float value, int dim, int part, int parts, int... fullDims) {
    float[] full = new float[sizeOf(fullDims, 0)];
    java.util.Arrays.fill(full, value);
    return sliceOf(name, full, dim, part, parts, fullDims, false);
  }

  private Param sliceOf(String name, float[] full, int dim, int part, int parts, int[] fullDims, boolean decay) {
    if (dim < 0 || dim >= fullDims.length || fullDims[dim] % parts != 0) {
      throw new IllegalArgumentException("parameter '" + name + "': dimension " + dim + " of "
          + java.util.Arrays.toString(fullDims) + " does not split into " + parts + " equal parts");
    }
    int[] dims = fullDims.clone();
    dims[dim] /= parts;
    if (parts > 1) {
      sliced.add(name);
    }
    int outer = sizeOf(fullDims, 0) / sizeOf(fullDims, dim); // elements before dimension dim
    int inner = sizeOf(fullDims, dim + 1); // elements after it
    int slice = dims[dim] * inner;
    float[] v = new float[outer * slice];
    for (int o = 0; o < outer; o++) {
      System.arraycopy(full, o * fullDims[dim] * inner + part * slice, v, o * slice, slice);
    }
    return add(name, v, dims, decay);
  }

  /** A parameter with every element equal to value (biases: 0; norm weights: 1). */
  public Param constant(String name, float value, int... dims) {
    float[] v = new float[sizeOf(dims, 0)];
    java.util.Arrays.fill(v, value);
    return add(name, v, dims, false);
  }

  private static int sizeOf(int[] dims, int from) {
    int n = 1;
    for (int i = from; i < dims.length; i++) {
      n *= dims[i];
    }
    return n;
  }

  private Param add(String name, float[] values, int[] dims, boolean decay) {
    if (byName.containsKey(name)) {
      throw new IllegalStateException("parameter '" + name + "' defined twice");
    }
    Param p = new Param(name, backend.fromArray(values, dims), backend.zeros(dims), decay);
    byName.put(name, p);
    return p;
  }

  /** Whether this worker holds only a slice of the parameter (see {@link #normalSlice}). */
  public boolean isSliced(String name) {
    return sliced.contains(name);
  }

  public List<Param> all() {
    return Collections.unmodifiableList(new ArrayList<>(byName.values()));
  }

  public Param get(String name) {
    Param p = byName.get(name);
    if (p == null) {
      throw new IllegalArgumentException("no parameter named '" + name + "'");
    }
    return p;
  }

  public long count() {
    long n = 0;
    for (Param p : byName.values()) {
      n += p.value().size();
    }
    return n;
  }

  public void zeroGrads() {
    for (Param p : byName.values()) {
      backend.fill(p.grad(), 0f);
    }
  }

  @Override
  public void close() {
    for (Param p : byName.values()) {
      p.value().close();
      p.grad().close();
    }
  }
}
