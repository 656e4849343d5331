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
  private final Map<String, Slicing> slicings = new java.util.HashMap<>();
  private final java.util.Set<String> perToken = new java.util.LinkedHashSet<>();
  /** Set by {@link #pack}. */
  private List<Segment> packed;

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

  /**
   * Rows [part * shard, (part + 1) * shard) of the [rows, cols] parameter {@link #normal} would draw,
   * padded with zero rows to {@code paddedRows} (a multiple of parts; shard = paddedRows / parts):
   * a vocabulary-parallel embedding table.
   */
  public Param normalRowsPadded(String name, float std, int part, int parts, int rows, int paddedRows, int cols) {
    if (paddedRows < rows || paddedRows % parts != 0) {
      throw new IllegalArgumentException("parameter '" + name + "': " + paddedRows + " padded rows must be at least "
          + rows + " and a multiple of " + parts);
    }
    Rng rng = Rng.derive(seed, name);
    float[] full = new float[paddedRows * cols];
    for (int i = 0; i < rows * cols; i++) {
      full[i] = (float) (rng.nextGaussian() * std);
    }
    return sliceOf(name, full, 0, part, parts, new int[] {paddedRows, cols}, true, rows);
  }

  /** Part {@code part} of {@code parts} slices of a constant parameter (see {@link #normalSlice}). */
  public Param constantSlice(String name, float value, int dim, int part, int parts, int... fullDims) {
    float[] full = new float[sizeOf(fullDims, 0)];
    java.util.Arrays.fill(full, value);
    return sliceOf(name, full, dim, part, parts, fullDims, false);
  }

  private Param sliceOf(String name, float[] full, int dim, int part, int parts, int[] fullDims, boolean decay) {
    return sliceOf(name, full, dim, part, parts, fullDims, decay, fullDims[0]);
  }

  private Param sliceOf(String name, float[] full, int dim, int part, int parts, int[] fullDims, boolean decay,
      int wholeRows) {
    if (dim < 0 || dim >= fullDims.length || fullDims[dim] % parts != 0) {
      throw new IllegalArgumentException("parameter '" + name + "': dimension " + dim + " of "
          + java.util.Arrays.toString(fullDims) + " does not split into " + parts + " equal parts");
    }
    int[] dims = fullDims.clone();
    dims[dim] /= parts;
    if (parts > 1) {
      sliced.add(name);
      slicings.put(name, new Slicing(dim, part, parts, fullDims.clone(), wholeRows));
    }
    return add(name, cut(full, fullDims, dim, part, parts), dims, decay);
  }

  /** Part {@code part} of {@code parts} equal slices of a row-major tensor along dimension dim. */
  private static float[] cut(float[] full, int[] fullDims, int dim, int part, int parts) {
    int outer = sizeOf(fullDims, 0) / sizeOf(fullDims, dim); // elements before dimension dim
    int inner = sizeOf(fullDims, dim + 1); // elements after it
    int slice = fullDims[dim] / parts * inner;
    float[] v = new float[outer * slice];
    for (int o = 0; o < outer; o++) {
      System.arraycopy(full, o * fullDims[dim] * inner + part * slice, v, o * slice, slice);
    }
    return v;
  }

  /**
   * How a sliced parameter was cut from the whole: along {@code dim}, part {@code part} of
   * {@code parts}, of a whole of {@code fullDims} (rows padded with zeros past the model's own, for a
   * vocabulary-parallel table).
   */
  public record Slicing(int dim, int part, int parts, int[] fullDims, int wholeRows) {
    /** The whole tensor's dimensions: fullDims without the padding rows. */
    public int[] wholeDims() {
      int[] d = fullDims.clone();
      d[0] = wholeRows;
      return d;
    }

    /**
     * The whole tensor from every part's slice, {@code parts} in part order each as this worker's
     * slice is laid out, padding rows dropped.
     */
    public float[] join(float[] parts) {
      int outer = sizeOf(fullDims, 0) / sizeOf(fullDims, dim);
      int inner = sizeOf(fullDims, dim + 1);
      int slice = fullDims[dim] / this.parts * inner;
      float[] full = new float[sizeOf(fullDims, 0)];
      for (int q = 0; q < this.parts; q++) {
        for (int o = 0; o < outer; o++) {
          System.arraycopy(parts, q * outer * slice + o * slice, full, o * fullDims[dim] * inner + q * slice, slice);
        }
      }
      return java.util.Arrays.copyOf(full, sizeOf(wholeDims(), 0));
    }
  }

  /** The slicing of a parameter this worker holds only part of, if it does. */
  public java.util.Optional<Slicing> slicing(String name) {
    return java.util.Optional.ofNullable(slicings.get(name));
  }

  /**
   * This worker's part of a parameter (or of a tensor laid out like it: an optimizer moment) from the
   * whole one, {@code whole} of shape {@code wholeDims} (rows unpadded): a checkpoint written by any
   * layout loads into any other.
   */
  public float[] shardOf(Param p, float[] whole, int[] wholeDims) {
    Slicing s = slicings.get(p.name());
    int[] expected = s == null ? p.value().shape().toArray() : s.wholeDims();
    if (!java.util.Arrays.equals(expected, wholeDims)) {
      throw new IllegalArgumentException("parameter '" + p.name() + "': the whole tensor is "
          + java.util.Arrays.toString(wholeDims) + ", this model needs " + java.util.Arrays.toString(expected));
    }
    if (s == null) {
      return whole;
    }
    float[] padded = java.util.Arrays.copyOf(whole, sizeOf(s.fullDims(), 0));
    return cut(padded, s.fullDims(), s.dim(), s.part(), s.parts());
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
    if (packed != null) {
      throw new IllegalStateException("parameter '" + name + "' added after the parameters were packed");
    }
    if (byName.containsKey(name)) {
      throw new IllegalStateException("parameter '" + name + "' defined twice");
    }
    Param p = new Param(name, backend.fromArray(values, dims), backend.zeros(dims), decay);
    byName.put(name, p);
    return p;
  }

  /**
   * Marks a parameter applied to each token on its own, outside the tensor-parallel region (norms,
   * position embeddings): under sequence parallelism each worker sees only its tokens, so the
   * region sums these gradients over the group ({@link dev.tessera.model.layers.Region#sumTokenGrads}).
   */
  public Param markPerToken(Param p) {
    perToken.add(p.name());
    return p;
  }

  /** The parameters {@link #markPerToken marked} per token, in creation order. */
  public List<Param> perToken() {
    List<Param> out = new ArrayList<>();
    for (String name : perToken) {
      out.add(byName.get(name));
    }
    return out;
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

  /**
   * Parameters that share one value tensor and one gradient tensor, back to back in {@link #params}
   * order, so that zeroing, norms and the optimizer are one launch for all of them. All have the
   * same {@code decay}, and all are sliced over a tensor-parallel group or none is.
   */
  public record Segment(Tensor values, Tensor grads, boolean decay, boolean sliced, List<Param> params) {
    /** Where each parameter starts in the segment, in elements. */
    public long offsetOf(Param p) {
      long off = 0;
      for (Param q : params) {
        if (q == p) {
          return off;
        }
        off += q.value().size();
      }
      throw new IllegalArgumentException(p.name() + " is not in this segment");
    }
  }

  /**
   * Moves every parameter into shared storage: one value and one gradient tensor per kind (decay
   * or not, sliced or not), each parameter a slice of them, values kept, gradients zero. Call it once
   * the model is built (Gpt does); no parameter can be added afterwards. On a backend that cannot
   * slice ({@link Backend#canSlice}) it changes nothing and every parameter stays its own segment.
   */
  public void pack() {
    if (packed != null) {
      return;
    }
    if (!backend.canSlice()) {
      packed = eachOnItsOwn();
      return;
    }
    List<Segment> segments = new ArrayList<>();
    for (boolean isSliced : new boolean[] {false, true}) {
      for (boolean decay : new boolean[] {true, false}) {
        List<Param> members = new ArrayList<>();
        int size = 0;
        for (Param p : byName.values()) {
          if (p.decay() == decay && isSliced(p.name()) == isSliced) {
            members.add(p);
            size += p.value().size();
          }
        }
        if (members.isEmpty()) {
          continue;
        }
        Tensor values = backend.zeros(size);
        Tensor grads = backend.zeros(size);
        int off = 0;
        for (Param p : members) {
          int[] dims = p.value().shape().toArray();
          Tensor value = backend.slice(values, off, dims);
          backend.copy(value, p.value());
          p.value().close();
          p.grad().close();
          p.moveTo(value, backend.slice(grads, off, dims));
          off += value.size();
        }
        segments.add(new Segment(values, grads, decay, isSliced, List.copyOf(members)));
      }
    }
    packed = segments;
  }

  /** The segments after {@link #pack}; before it, one per parameter. */
  public List<Segment> segments() {
    return packed != null ? packed : eachOnItsOwn();
  }

  private List<Segment> eachOnItsOwn() {
    List<Segment> each = new ArrayList<>();
    for (Param p : byName.values()) {
      each.add(new Segment(p.value(), p.grad(), p.decay(), isSliced(p.name()), List.of(p)));
    }
    return each;
  }

  public void zeroGrads() {
    for (Segment s : segments()) {
      backend.fill(s.grads(), 0f);
    }
  }

  @Override
  public void close() {
    if (packed != null) {
      for (Segment s : packed) {
        s.values().close();
        s.grads().close();
      }
    } else {
      for (Param p : byName.values()) {
        p.value().close();
        p.grad().close();
      }
    }
  }
}
