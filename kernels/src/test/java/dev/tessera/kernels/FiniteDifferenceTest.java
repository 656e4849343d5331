package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.check.OpCase;
import dev.tessera.kernels.check.OpCases;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each backward op agrees with central finite differences of its forward op, on the reference and
 * on OpenCL. The loss is L = sum_o w_o . out_o with fixed random weights w; a handful of elements of
 * every differentiable input are perturbed by +-h and L is evaluated in double on the host.
 */
class FiniteDifferenceTest {
  static final float H = 1e-2f;
  static final double RTOL = 2e-2;
  static final double ATOL = 2e-3;
  static final int PROBES = 8;
  static final long SEED = 7;

  static Stream<Arguments> cases() {
    List<Arguments> args = new ArrayList<>();
    for (OpCase c : OpCases.all()) {
      if (c.backward() != null) {
        args.add(Arguments.of(Named.of("reference", "reference"), c));
        args.add(Arguments.of(Named.of("OpenCL", "opencl"), c));
      }
    }
    return args.stream();
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("cases")
  void backwardMatchesFiniteDifferences(String backendName, OpCase c) {
    Backend b = backendName.equals("opencl") ? TestBackends.openCl() : new ReferenceBackend();
    Map<String, Object> host = c.hostInputs(SEED);
    Map<String, float[]> weights;
    Map<String, float[]> analytic = new LinkedHashMap<>();
    {
      Map<String, Tensor> in = c.upload(b, host);
      Map<String, Tensor> fwd = c.forward().run(b, in);
      weights = c.lossWeights(fwd, SEED);
      Map<String, Tensor> dOut = new LinkedHashMap<>();
      weights.forEach((k, v) -> dOut.put(k, b.fromArray(v, fwd.get(k).shape().toArray())));
      c.backward().run(b, in, fwd, dOut).forEach((k, v) -> analytic.put(k, b.read(v)));
    }
    Random rnd = new Random(SEED);
    for (OpCase.Input input : c.inputs()) {
      if (!input.differentiable()) {
        continue;
      }
      float[] x = (float[]) host.get(input.name());
      float[] grad = analytic.get(input.name());
      for (int p = 0; p < PROBES; p++) {
        int i = rnd.nextInt(x.length);
        float saved = x[i];
        x[i] = saved + H;
        double up = loss(b, c, host, weights);
        x[i] = saved - H;
        double down = loss(b, c, host, weights);
        x[i] = saved;
        double numeric = (up - down) / (2 * H);
        double err = Math.abs(numeric - grad[i]);
        assertTrue(err <= ATOL + RTOL * Math.abs(numeric), () -> c.name() + " on " + b.describe() + ": d"
            + input.name() + "[" + i + "] = " + grad[i] + " but finite differences give " + numeric);
      }
    }
  }

  private static double loss(Backend b, OpCase c, Map<String, Object> host, Map<String, float[]> weights) {
    Map<String, Tensor> in = c.upload(b, host);
    Map<String, Tensor> fwd = c.forward().run(b, in);
    double l = 0;
    for (String o : c.outputs()) {
      float[] y = b.read(fwd.get(o));
      float[] w = weights.get(o);
      for (int j = 0; j < y.length; j++) {
        l += (double) w[j] * y[j];
      }
    }
    fwd.values().forEach(Tensor::close);
    in.values().forEach(Tensor::close);
    return l;
  }
}
