package dev.tessera.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.kernels.TestBackends;
import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.model.io.Safetensors;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Logits, loss and every parameter gradient of a tiny GPT equal a PyTorch dump
 * (tools/golden/make_golden.py, computed in float64) within 1e-4 relative: GPT-2 style and Llama
 * style, on the reference backend and on OpenCL.
 */
class GoldenParityTest {
  static final double TOLERANCE = 1e-4;
  static final Path GOLDEN = Path.of("..", "tools", "golden");

  static Stream<Arguments> cases() {
    return Stream.of("gpt2", "llama").flatMap(c -> Stream.of(Arguments.of(c, "reference"), Arguments.of(c,
        "opencl")));
  }

  @ParameterizedTest(name = "{0} on {1}")
  @MethodSource("cases")
  void matchesPyTorch(String config, String backend) throws Exception {
    Path file = GOLDEN.resolve(config + ".safetensors");
    Map<String, Safetensors.Entry> dump = Safetensors.read(file);
    Map<String, String> meta = Safetensors.metadata(file);
    Backend be = backend.equals("opencl") ? TestBackends.openCl() : new ReferenceBackend();
    GptConfig cfg = new GptConfig(i(meta, "vocab"), i(meta, "block"), i(meta, "layers"), i(meta, "heads"),
        i(meta, "embd"), Boolean.parseBoolean(meta.get("bias")) /* Python writes True/False */,
        GptConfig.parse(GptConfig.Norm.class, meta.get("norm"), "norm"),
        GptConfig.parse(GptConfig.Mlp.class, meta.get("mlp"), "mlp"),
        GptConfig.parse(GptConfig.Positions.class, meta.get("positions"), "positions"), i(meta, "hidden"),
        Float.parseFloat(meta.get("rope_base")));
    try (Params params = new Params(be, 1)) {
      Gpt model = new Gpt(cfg, params, LayerFactory.LOCAL);
      TreeSet<String> dumped = dump.keySet().stream().filter(k -> k.startsWith("param.")).map(k -> k.substring(6))
          .collect(Collectors.toCollection(TreeSet::new));
      TreeSet<String> ours = params.all().stream().map(Param::name).collect(Collectors.toCollection(TreeSet::new));
      assertEquals(dumped, ours, "Tessera's parameter names equal the dump's");
      for (Param p : params.all()) {
        be.write(p.value(), dump.get("param." + p.name()).data());
      }
      int b = i(meta, "batch");
      int t = i(meta, "seq");
      try (Tensor ids = be.fromInts(ints(dump.get("ids").data()), b, t);
          Tensor targets = be.fromInts(ints(dump.get("targets").data()), b, t);
          Gpt.Ctx ctx = model.forward(ids, targets, b * t)) {
        assertClose("logits", be.read(ctx.logits), dump.get("logits").data());
        float loss = be.readScalar(ctx.lossSum) / ctx.counted;
        assertClose("loss", new float[] {loss}, dump.get("loss").data());
        model.backward(ctx, 1f / ctx.counted);
        // Some gradients are zero in exact arithmetic (a key bias: softmax ignores a constant added to
        // a query's scores), so their own scale is rounding noise; those are measured against the
        // largest gradient of the model instead.
        double floor = 0;
        for (Param p : params.all()) {
          for (float g : dump.get("grad." + p.name()).data()) {
            floor = Math.max(floor, Math.abs(g));
          }
        }
        for (Param p : params.all()) {
          float[] expected = dump.get("grad." + p.name()).data();
          float[] actual = be.read(p.grad());
          double diff = 0;
          double scale = floor * 1e-3;
          for (int k = 0; k < expected.length; k++) {
            diff = Math.max(diff, Math.abs((double) actual[k] - expected[k]));
            scale = Math.max(scale, Math.abs(expected[k]));
          }
          double err = diff / scale;
          assertTrue(err <= TOLERANCE, () -> "d" + p.name() + " differs from PyTorch by " + err + " (relative)");
        }
      }
    }
  }

  private static void assertClose(String what, float[] actual, float[] expected) {
    double err = Numerics.relativeError(actual, expected);
    assertTrue(err <= TOLERANCE, () -> what + " differs from PyTorch by " + err + " (relative, max-norm)");
  }

  private static int i(Map<String, String> meta, String key) {
    return Integer.parseInt(meta.get(key));
  }

  private static int[] ints(float[] f) {
    int[] out = new int[f.length];
    for (int k = 0; k < f.length; k++) {
      out[k] = (int) f[k];
    }
    return out;
  }
}
