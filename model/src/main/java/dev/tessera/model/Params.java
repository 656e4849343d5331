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
