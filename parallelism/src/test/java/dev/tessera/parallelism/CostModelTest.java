package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.reference.ReferenceBackend;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Params;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import org.junit.jupiter.api.Test;

class CostModelTest {
  private static GptConfig model(boolean bias, GptConfig.Norm norm, GptConfig.Mlp mlp, GptConfig.Positions pos) {
    return new GptConfig(65, 32, 2, 4, 32, bias, norm, mlp, pos, 0, 10000f);
  }

  @Test
  void theParameterCountIsTheModelsForEveryArchitecture() {
    GptConfig[] configs = {
        model(false, GptConfig.Norm.LAYERNORM, GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED),
        model(true, GptConfig.Norm.LAYERNORM, GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED),
        model(false, GptConfig.Norm.RMSNORM, GptConfig.Mlp.SWIGLU, GptConfig.Positions.ROTARY),
        model(true, GptConfig.Norm.RMSNORM, GptConfig.Mlp.SWIGLU, GptConfig.Positions.ROTARY)};
    for (GptConfig c : configs) {
      try (ReferenceBackend be = new ReferenceBackend(); Params params = new Params(be, 1)) {
        new Gpt(c, params, LayerFactory.LOCAL);
        assertEquals(params.count(), CostModel.parameters(c), c.toString());
      }
    }
  }

  @Test
  void tensorParallelismShrinksEachWorkersMemoryAndDataParallelismItsActivations() {
    GptConfig c = model(false, GptConfig.Norm.LAYERNORM, GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED);
    CostModel.Machine m = CostModel.Machine.cpu(2);
    CostModel.Cost one = CostModel.of(c, 1, 1, false, 64, 1, 4, m);
    CostModel.Cost tp2 = CostModel.of(c, 1, 2, false, 64, 1, 4, m);
    CostModel.Cost dp2 = CostModel.of(c, 2, 1, false, 64, 1, 4, m);
    assertTrue(tp2.parameterBytes() < one.parameterBytes(), "tp splits the matrices");
    assertEquals(one.parameterBytes(), dp2.parameterBytes(), "dp replicates the model");
    assertTrue(dp2.activationBytes() * 2 <= one.activationBytes() + 16, "dp halves each worker's tokens");
    assertEquals(0, one.tpBytes() + one.dpBytes(), 0, "one worker sends nothing");
    assertEquals(4.0 * one.parameters() * 2 * (2 - 1) / 2, dp2.dpBytes(), 1e-6, "a ring all-reduce of fp32 grads");
    assertTrue(CostModel.of(c, 2, 1, false, 64, 1, 0.125, m).dpBytes() * 32 == dp2.dpBytes(), "1-bit: 1/32");
  }
}
