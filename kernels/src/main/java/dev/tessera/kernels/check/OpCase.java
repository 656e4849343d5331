package dev.tessera.kernels.check;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * One op under test: its inputs, its forward and (where it has one) its backward. The same case
 * drives the parity tests (fast backend against the reference) and the finite-difference tests.
 *
 * @param outputs forward outputs that the loss of a finite-difference check is built from (saved
 *     statistics such as lse are left out)
 */
public record OpCase(String name, List<Input> inputs, List<String> outputs, Forward forward, Backward backward,
    boolean unitLossWeights) {

  public OpCase(String name, List<Input> inputs, List<String> outputs, Forward forward, Backward backward) {
    this(name, inputs, outputs, forward, backward, false);
  }

  /** The same case with a loss of plain sums (for backward ops that take one scale, not a tensor). */
  public OpCase withUnitLossWeights() {
    return new OpCase(name, inputs, outputs, forward, backward, true);
  }

  /** An input tensor: f32 values drawn uniformly from [lo, hi), or i32 values from [lo, hi). */
  public record Input(String name, int[] shape, DType dtype, float lo, float hi, boolean differentiable) {
    public static Input f32(String name, float lo, float hi, int... shape) {
      return new Input(name, shape, DType.F32, lo, hi, true);
    }

    public static Input constant(String name, float lo, float hi, int... shape) {
      return new Input(name, shape, DType.F32, lo, hi, false);
    }

    public static Input ids(String name, int vocab, int... shape) {
      return new Input(name, shape, DType.I32, 0, vocab, false);
    }

    public int size() {
      return Shape.of(shape).size();
    }
  }

  @FunctionalInterface
  public interface Forward {
    /** Runs the op; returns every output by name, saved statistics included. */
    Map<String, Tensor> run(Backend b, Map<String, Tensor> in);
  }

  @FunctionalInterface
  public interface Backward {
    /** Returns the gradient of every differentiable input, given the forward outputs and dOut per output. */
    Map<String, Tensor> run(Backend b, Map<String, Tensor> in, Map<String, Tensor> fwd, Map<String, Tensor> dOut);
  }

  /** Host values of every input, drawn from the seed (the same on every backend). */
  public Map<String, Object> hostInputs(long seed) {
    Map<String, Object> host = new LinkedHashMap<>();
    Random rnd = new Random(seed);
    for (Input in : inputs) {
      if (in.dtype() == DType.F32) {
        host.put(in.name(), Numerics.uniform(rnd, in.size(), in.lo(), in.hi()));
      } else {
        int[] ids = new int[in.size()];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = (int) in.lo() + rnd.nextInt((int) (in.hi() - in.lo()));
        }
        host.put(in.name(), ids);
      }
    }
    return host;
  }

  public Map<String, Tensor> upload(Backend b, Map<String, Object> host) {
    Map<String, Tensor> t = new LinkedHashMap<>();
    for (Input in : inputs) {
      Object v = host.get(in.name());
      t.put(in.name(), v instanceof float[] f ? b.fromArray(f, in.shape()) : b.fromInts((int[]) v, in.shape()));
    }
    return t;
  }

  /** Weights that turn the outputs into a scalar loss, L = sum over outputs of w . out. */
  public Map<String, float[]> lossWeights(Map<String, Tensor> fwd, long seed) {
    Map<String, float[]> w = new LinkedHashMap<>();
    Random rnd = new Random(seed ^ 0x5DEECE66DL);
    for (String o : outputs) {
      float[] ws = Numerics.uniform(rnd, fwd.get(o).size(), -1f, 1f);
      if (unitLossWeights) {
        java.util.Arrays.fill(ws, 1f);
      }
      w.put(o, ws);
    }
    return w;
  }

  /**
   * Runs forward and, if there is one, backward with dOut = the loss weights; returns every forward
   * output and every gradient ("d" + input name) as host arrays.
   */
  public Map<String, float[]> runAll(Backend b, long seed) {
    Map<String, Tensor> in = upload(b, hostInputs(seed));
    Map<String, Tensor> fwd = forward.run(b, in);
    Map<String, float[]> result = new LinkedHashMap<>();
    fwd.forEach((k, v) -> result.put(k, b.read(v)));
    if (backward != null) {
      Map<String, Tensor> dOut = new LinkedHashMap<>();
      lossWeights(fwd, seed).forEach((k, v) -> dOut.put(k, b.fromArray(v, fwd.get(k).shape().toArray())));
      Map<String, Tensor> grads = backward.run(b, in, fwd, dOut);
      grads.forEach((k, v) -> result.put("d" + k, b.read(v)));
      grads.values().forEach(Tensor::close);
      dOut.values().forEach(Tensor::close);
    }
    fwd.values().forEach(Tensor::close);
    in.values().forEach(Tensor::close);
    return result;
  }

  @Override
  public String toString() {
    return name;
  }
}
