package dev.tessera.parallelism;

import dev.tessera.model.GptConfig;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The device mesh dp x pp x tp x cp x ep: how many ways each axis splits the job, rank <->
 * coordinates, and the groups of every axis. Validated on construction against the number of
 * workers and the model; every error names the factor at fault and a layout that would fit.
 * Passed explicitly wherever it is needed: there is no global mesh.
 *
 * <p>Rank order is tp fastest, then cp, ep, dp, pp ({@link Axis}): rank = (((pp * DP + dp) * EP +
 * ep) * CP + cp) * TP + tp.
 */
public final class ParallelDims {
  private final Map<Axis, Integer> sizes = new EnumMap<>(Axis.class);
  private final int world;

  /** A mesh of these sizes (each at least 1). */
  public ParallelDims(int dp, int pp, int tp, int cp, int ep) {
    sizes.put(Axis.TP, tp);
    sizes.put(Axis.CP, cp);
    sizes.put(Axis.EP, ep);
    sizes.put(Axis.DP, dp);
    sizes.put(Axis.PP, pp);
    int w = 1;
    for (Axis a : Axis.values()) {
      int s = sizes.get(a);
      if (s < 1) {
        throw new IllegalArgumentException(a.flag() + " must be at least 1, got " + s);
      }
      w = Math.multiplyExact(w, s);
    }
    this.world = w;
  }

  /**
   * A mesh checked against the workers and the model: the product of the factors equals
   * {@code workers}; tp divides the heads, the width and the MLP width; pp is at most the number of
   * layers. cp and ep wait for their layers (issue 10 and later) and must be 1 for now.
   */
  public static ParallelDims of(int dp, int pp, int tp, int cp, int ep, int workers, GptConfig model) {
    ParallelDims d = new ParallelDims(dp, pp, tp, cp, ep);
    if (d.world != workers) {
      throw new IllegalArgumentException("the mesh " + d + " has " + d.world + " ranks but there are " + workers
          + " workers; " + suggest(workers, model));
    }
    if (cp != 1 || ep != 1) {
      throw new IllegalArgumentException("context and expert parallelism (cp, ep) are not implemented yet; use cp=1 "
          + "ep=1 (" + suggest(workers, model) + ")");
    }
    int[] dims = {model.nHead(), model.nEmbd(), model.hidden()};
    String[] names = {"attention heads", "width (n-embd)", "MLP width"};
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] % tp != 0) {
        throw new IllegalArgumentException("tp=" + tp + " does not divide the " + dims[i] + " " + names[i]
            + "; tp can be " + tpChoices(model) + " (" + suggest(workers, model) + ")");
      }
    }
    if (pp > model.nLayer()) {
      throw new IllegalArgumentException("pp=" + pp + " is more pipeline stages than the " + model.nLayer()
          + " layers (" + suggest(workers, model) + ")");
    }
    return d;
  }

  /** The tp values the model allows: common divisors of heads, width and MLP width. */
  static List<Integer> tpChoices(GptConfig model) {
    List<Integer> out = new ArrayList<>();
    for (int t = 1; t <= model.nHead(); t++) {
      if (model.nHead() % t == 0 && model.nEmbd() % t == 0 && model.hidden() % t == 0) {
        out.add(t);
      }
    }
    return out;
  }

  /** A layout for {@code workers} that fits the model: the largest valid tp dividing workers, the rest dp. */
  static String suggest(int workers, GptConfig model) {
    int best = 1;
    for (int t : tpChoices(model)) {
      if (workers % t == 0) {
        best = t;
      }
    }
    return "a layout that fits " + workers + " workers: dp=" + workers / best + " tp=" + best;
  }

  public int size(Axis a) {
    return sizes.get(a);
  }

  public int dp() {
    return size(Axis.DP);
  }

  public int pp() {
    return size(Axis.PP);
  }

  public int tp() {
    return size(Axis.TP);
  }

  public int cp() {
    return size(Axis.CP);
  }

  public int ep() {
    return size(Axis.EP);
  }

  /** Ranks in the mesh. */
  public int world() {
    return world;
  }

  /** The vocabulary padded to a multiple of tp (each tp rank holds an equal slice of the embedding). */
  public int paddedVocab(int vocab) {
    int tp = tp();
    return (vocab + tp - 1) / tp * tp;
  }

  /** A rank's coordinates, one per axis. */
  public Map<Axis, Integer> coords(int rank) {
    if (rank < 0 || rank >= world) {
      throw new IllegalArgumentException("rank " + rank + " outside the mesh " + this + " of " + world + " ranks");
    }
    Map<Axis, Integer> c = new EnumMap<>(Axis.class);
    int r = rank;
    for (Axis a : Axis.values()) {
      c.put(a, r % size(a));
      r /= size(a);
    }
    return c;
  }

  public int coord(int rank, Axis a) {
    return coords(rank).get(a);
  }

  /** The rank at these coordinates. */
  public int rank(Map<Axis, Integer> coords) {
    int r = 0;
    Axis[] axes = Axis.values();
    for (int i = axes.length - 1; i >= 0; i--) {
      int c = coords.getOrDefault(axes[i], 0);
      if (c < 0 || c >= size(axes[i])) {
        throw new IllegalArgumentException(axes[i].flag() + " coordinate " + c + " outside 0.." + (size(axes[i]) - 1));
      }
      r = r * size(axes[i]) + c;
    }
    return r;
  }

  /** The ranks of {@code rank}'s group along axis {@code a}, in order of their coordinate on it. */
  public int[] group(Axis a, int rank) {
    Map<Axis, Integer> c = coords(rank);
    int[] g = new int[size(a)];
    for (int i = 0; i < g.length; i++) {
      c.put(a, i);
      g[i] = rank(c);
    }
    return g;
  }

  /** Every group along {@code a}, each in coordinate order, ordered by their first rank. */
  public List<int[]> groups(Axis a) {
    List<int[]> out = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      if (coord(r, a) == 0) {
        out.add(group(a, r));
      }
    }
    return out;
  }

  /**
   * The id of {@code rank}'s group along {@code a} on the wire: distinct for every group of every
   * axis of this mesh (axis in the high bits, the group's first rank in the low ones).
   */
  public int groupId(Axis a, int rank) {
    return (a.ordinal() + 1) << 24 | group(a, rank)[0];
  }

  @Override
  public String toString() {
    return "dp=" + dp() + " pp=" + pp() + " tp=" + tp() + " cp=" + cp() + " ep=" + ep();
  }
}
