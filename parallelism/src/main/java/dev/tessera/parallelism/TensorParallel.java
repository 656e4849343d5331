package dev.tessera.parallelism;

import dev.tessera.comm.Group;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Params;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.layers.Linear;
import dev.tessera.model.layers.LinearLayer;

/**
 * Megatron-style tensor parallelism over one tp group: a {@link LayerFactory} whose column-split
 * linears keep a slice of the output features and whose row-split linears keep a slice of the
 * input features and sum their outputs over the group, and the region mappings between them.
 * Each worker computes {@code heads / tp} attention heads.
 */
public final class TensorParallel implements LayerFactory {
  private final Group group;
  private long step;

  /** @param group this worker's tp group (its index is this worker's tp coordinate) */
  public TensorParallel(Group group) {
    this.group = group;
  }

  public int size() {
    return group.size();
  }

  public int index() {
    return group.index();
  }

  /** Tags the next collectives with the training step (for error messages and frame keys). */
  public void step(long s) {
    this.step = s;
  }

  @Override
  public int localHeads(int heads) {
    if (heads % group.size() != 0) {
      throw new IllegalArgumentException("tp=" + group.size() + " does not divide the " + heads + " heads");
    }
    return heads / group.size();
  }

  @Override
  public LinearLayer linear(Params params, String name, int in, int out, boolean bias, float std, Split split) {
    return switch (split) {
      case NONE -> new Linear(params, name, in, out, bias, std);
      case COLUMN -> new ColumnParallelLinear(this, params, name, in, out, bias, std);
      case ROW -> new RowParallelLinear(this, params, name, in, out, bias, std);
    };
  }

  /** x summed over the tp group. */
  double sumScalar(double x) {
    if (group.size() == 1) {
      return x;
    }
    float[] v = {(float) x};
    group.allReduce(v, step);
    return v[0];
  }

  /**
   * t = the sum of t over the group, in place: the forward of "reduce from the tp region" and the
   * backward of "copy to the tp region". Goes through host memory for now.
   */
  void allReduce(Backend be, Tensor t) {
    if (group.size() == 1) {
      return;
    }
    float[] h = be.read(t);
    group.allReduce(h, step);
    be.write(t, h);
  }
}
