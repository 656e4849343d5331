package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.optim.AdamW;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** One small GPT trained for a few steps under a layout; shared by the in-JVM and cross-process tests. */
final class LayoutRun {
  private LayoutRun() {
  }

  private static final GptConfig CFG = new GptConfig(11, 8, 2, 4, 32, true, GptConfig.Norm.LAYERNORM,
      GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED, 0, 10000f);
  private static final int B = 4;
  private static final int T = 8;

  /** Losses of every step; the last step's gradients (before the update) and the final parameters. */
  record Result(float[] losses, Map<String, float[]> grads, Map<String, float[]> values,
      Map<String, int[]> shapes) {
  }

  static final int STEPS = 3;

  private static int[] tokens(long seed) {
    Random r = new Random(seed);
    int[] x = new int[B * T];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextInt(CFG.vocabSize());
    }
    return x;
  }

  static Result run(LayerFactory layers) {
    return run(layers, null, false);
  }

  /**
   * {@value #STEPS} optimizer steps (AdamW, no clipping) on fixed global batches; with dp, this
   * worker's rows of each batch, gradients summed over dp before the update.
   */
  static Result run(LayerFactory layers, DataParallel dp, boolean zero) {
    Backend be = new ReferenceBackend();
    int parts = dp == null ? 1 : dp.size();
    int part = dp == null ? 0 : dp.index();
    int rows = B / parts;
    float[] losses = new float[STEPS];
    Map<String, float[]> grads = new LinkedHashMap<>();
    try (Params params = new Params(be, 7)) {
      Gpt model = new Gpt(CFG, params, layers);
      try (AdamW adam = new AdamW(params, 0.9f, 0.95f, 1e-8f, 0.1f);
          ZeroOneAdamW zeroAdam = zero ? new ZeroOneAdamW(be, params.all(), dp.group(), 0.9f, 0.95f, 1e-8f, 0.1f)
              : null) {
        for (int step = 0; step < STEPS; step++) {
          int[] ids = java.util.Arrays.copyOfRange(tokens(10 + step), part * rows * T, (part + 1) * rows * T);
          int[] targets = java.util.Arrays.copyOfRange(tokens(20 + step), part * rows * T, (part + 1) * rows * T);
          params.zeroGrads();
          try (Tensor tIds = be.fromInts(ids, rows, T); Tensor tTargets = be.fromInts(targets, rows, T);
              Gpt.Ctx ctx = model.forward(tIds, tTargets, B * T)) {
            double lossSum = be.readScalar(ctx.lossSum);
            model.backward(ctx, 1f / (B * T));
            if (dp != null) {
              lossSum = dp.allReduceScalar(lossSum, step);
              if (!zero) {
                dp.allReduceGrads(params, step);
              }
            }
            losses[step] = (float) (lossSum / (B * T));
          }
          if (step == STEPS - 1) {
            for (Param p : params.all()) {
              grads.put(p.name(), be.read(p.grad()));
            }
          }
          // nanoGPT's rate; at 1e-2 each step moves weights by half their size and fp32 noise grows past 1e-5.
          if (zero) {
            zeroAdam.step(1e-3f, step);
          } else {
            adam.step(1e-3f);
          }
        }
      }
      Map<String, float[]> values = new LinkedHashMap<>();
      Map<String, int[]> shapes = new LinkedHashMap<>();
      for (Param p : params.all()) {
        values.put(p.name(), be.read(p.value()));
        shapes.put(p.name(), p.value().shape().toArray());
      }
      return new Result(losses, grads, values, shapes);
    }
  }

  /**
   * Slice {@code part} of {@code parts} of a row-major tensor along dimension dim, the dimension
   * padded with zeros to a multiple of parts (as the vocabulary is under tensor parallelism).
   */
  private static float[] slice(float[] full, int[] fullDims, int dim, int part, int parts) {
    int outer = 1;
    for (int i = 0; i < dim; i++) {
      outer *= fullDims[i];
    }
    int inner = 1;
    for (int i = dim + 1; i < fullDims.length; i++) {
      inner *= fullDims[i];
    }
    int per = (fullDims[dim] + parts - 1) / parts; // rows of dimension dim in each slice
    float[] out = new float[outer * per * inner];
    for (int o = 0; o < outer; o++) {
      for (int k = 0; k < per; k++) {
        int row = part * per + k;
        if (row < fullDims[dim]) {
          System.arraycopy(full, (o * fullDims[dim] + row) * inner, out, (o * per + k) * inner, inner);
        }
      }
    }
    return out;
  }

  /**
   * Max-norm relative error. A gradient that is zero in exact arithmetic (a key bias: softmax ignores
   * a constant added to a query's scores) is rounding noise at its own scale; such a gradient is
   * measured against {@code floor} (a thousandth of the model's largest gradient) instead.
   */
  private static double relErr(float[] a, float[] b, double floor) {
    double num = 0;
    double den = 0;
    for (int i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    return num / Math.max(den, floor);
  }


  /** Asserts rank r's result equals the single worker's (its shards against the same slices). */
  static void assertEquivalent(String layout, int r, Result one, Result got, int tpIndex, int tpSize, boolean zero) {
    double largest = 0;
    for (float[] g : one.grads().values()) {
      for (float v : g) {
        largest = Math.max(largest, Math.abs(v));
      }
    }
    double floor = 1e-3 * largest;
    for (int step = 0; step < STEPS; step++) {
      assertEquals(one.losses()[step], got.losses()[step], 1e-5 * Math.abs(one.losses()[step]),
          layout + ": loss of step " + step + " on rank " + r);
    }
    assertEquals(one.grads().keySet(), got.grads().keySet());
    // The vocabulary (11: not a multiple of 2 or 4) is split too, padded to a multiple of tp.
    assertEquals((CFG.vocabSize() + tpSize - 1) / tpSize, got.shapes().get("wte")[0],
        layout + ": rows of the vocab-parallel embedding on rank " + r);
    for (String name : one.grads().keySet()) {
      int[] full = one.shapes().get(name);
      int[] mine = got.shapes().get(name);
      float[] want = one.grads().get(name);
      if (mine[0] != full[0]) { // split by rows (column-parallel weights and biases)
        want = slice(want, full, 0, tpIndex, tpSize);
      } else if (mine.length > 1 && mine[1] != full[1]) { // split by columns (row-parallel weights)
        want = slice(want, full, 1, tpIndex, tpSize);
      }
      if (!zero) { // with ZeRO-1 the gradients are summed inside the optimizer step
        double err = relErr(got.grads().get(name), want, floor);
        assertTrue(err <= 1e-5, layout + " rank " + r + ": gradient of " + name + " differs by " + err);
      }
      float[] value = one.values().get(name);
      if (mine[0] != full[0]) {
        value = slice(value, full, 0, tpIndex, tpSize);
      } else if (mine.length > 1 && mine[1] != full[1]) {
        value = slice(value, full, 1, tpIndex, tpSize);
      }
      if (name.endsWith(".attn.k.bias")) {
        // Its gradient is zero in exact arithmetic (softmax ignores a constant added to a query's
        // scores): what AdamW does with the rounding noise differs with the summation order of any
        // layout, and never changes the loss (checked above, every step).
        continue;
      }
      double verr = relErr(got.values().get(name), value, 0);
      assertTrue(verr <= 1e-5, layout + " rank " + r + ": parameter " + name + " after " + STEPS
          + " steps differs by " + verr);
    }
  }
}
