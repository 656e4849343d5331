package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.comm.Group;
import dev.tessera.comm.LocalFabric;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Layout tp2 and tp4 (ranks as threads, in-JVM fabric): the loss and every parameter gradient of one
 * forward and backward equal one worker's within 1e-5 relative; a sharded gradient equals the
 * same slice of the single worker's.
 */
class TensorParallelEquivalenceTest {
  private static final GptConfig CFG = new GptConfig(11, 8, 2, 4, 32, true, GptConfig.Norm.LAYERNORM,
      GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED, 0, 10000f);
  private static final int B = 2;
  private static final int T = 8;

  private record Result(float loss, Map<String, float[]> grads, Map<String, int[]> shapes) {
  }

  private static int[] tokens(long seed) {
    Random r = new Random(seed);
    int[] x = new int[B * T];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextInt(CFG.vocabSize());
    }
    return x;
  }

  private static Result run(LayerFactory layers) {
    Backend be = new ReferenceBackend();
    try (Params params = new Params(be, 7)) {
      Gpt model = new Gpt(CFG, params, layers);
      try (Tensor ids = be.fromInts(tokens(1), B, T); Tensor targets = be.fromInts(tokens(2), B, T);
          Gpt.Ctx ctx = model.forward(ids, targets, B * T)) {
        float loss = be.readScalar(ctx.lossSum) / ctx.counted;
        model.backward(ctx, 1f / ctx.counted);
        Map<String, float[]> grads = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (Param p : params.all()) {
          grads.put(p.name(), be.read(p.grad()));
          shapes.put(p.name(), p.value().shape().toArray());
        }
        return new Result(loss, grads, shapes);
      }
    }
  }

  /** Slice {@code part} of {@code parts} of a row-major tensor along dimension dim. */
  private static float[] slice(float[] full, int[] fullDims, int dim, int part, int parts) {
    int outer = 1;
    for (int i = 0; i < dim; i++) {
      outer *= fullDims[i];
    }
    int inner = 1;
    for (int i = dim + 1; i < fullDims.length; i++) {
      inner *= fullDims[i];
    }
    int sliceLen = fullDims[dim] / parts * inner;
    float[] out = new float[outer * sliceLen];
    for (int o = 0; o < outer; o++) {
      System.arraycopy(full, o * fullDims[dim] * inner + part * sliceLen, out, o * sliceLen, sliceLen);
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

  @ParameterizedTest(name = "layout tp{0}")
  @ValueSource(ints = {2, 4})
  void tensorParallelEqualsOneWorker(int tp) throws Exception {
    Result one = run(LayerFactory.LOCAL);
    double largest = 0;
    for (float[] g : one.grads().values()) {
      for (float v : g) {
        largest = Math.max(largest, Math.abs(v));
      }
    }
    double floor = 1e-3 * largest;
    LocalFabric fabric = new LocalFabric(tp);
    int[] ranks = new int[tp];
    for (int r = 0; r < tp; r++) {
      ranks[r] = r;
    }
    ExecutorService pool = Executors.newFixedThreadPool(tp);
    List<Future<Result>> futures = new ArrayList<>();
    try {
      for (int r = 0; r < tp; r++) {
        Group g = new Group(fabric.transport(r), 1, ranks, Duration.ofSeconds(30));
        futures.add(pool.submit(() -> run(new TensorParallel(g))));
      }
      for (int r = 0; r < tp; r++) {
        Result got = futures.get(r).get(60, TimeUnit.SECONDS);
        assertEquals(one.loss(), got.loss(), 1e-5 * Math.abs(one.loss()), "loss on tp rank " + r);
        assertEquals(one.grads().keySet(), got.grads().keySet());
        for (String name : one.grads().keySet()) {
          int[] full = one.shapes().get(name);
          int[] mine = got.shapes().get(name);
          float[] want = one.grads().get(name);
          if (mine[0] != full[0]) { // split by rows (column-parallel weights and biases)
            want = slice(want, full, 0, r, tp);
          } else if (mine.length > 1 && mine[1] != full[1]) { // split by columns (row-parallel weights)
            want = slice(want, full, 1, r, tp);
          }
          double err = relErr(got.grads().get(name), want, floor);
          assertTrue(err <= 1e-5, "tp" + tp + " rank " + r + ": gradient of " + name + " differs by " + err);
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
