package dev.tessera.coordinator.run;

import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import dev.tessera.worker.Checkpoints;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Backends;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Params;
import dev.tessera.model.Rng;
import dev.tessera.model.data.Tokenizer;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.layers.LayerFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;

/** Generates text from a run's newest good checkpoint: temperature and top-k sampling. */
public final class Sampler {
  private Sampler() {
  }

  /**
   * @param topK keep the k most likely tokens; 0 keeps all
   * @return the prompt followed by the generated text
   */
  public static String sample(Path run, String prompt, int tokens, float temperature, int topK, long seed,
      String device) {
    if (temperature <= 0) {
      throw new IllegalArgumentException("temperature must be positive, got " + temperature);
    }
    TrainConfig cfg = TrainConfigs.read(run.resolve(TrainRun.CONFIG));
    Checkpoints.Checkpoint ck = Checkpoints.latest(run, msg -> System.err.println("tessera: " + msg))
        .orElseThrow(() -> new IllegalArgumentException("no usable checkpoint in " + Checkpoints.dir(run)));
    Tokenizer tok = Tokenizer.fromSpec(ck.manifest().tokenizer());
    int[] context = prompt.isEmpty() ? new int[] {0} : tok.encode(prompt);
    String dev = device != null ? device : cfg.device();
    try (Backend be = Backends.create(Backends.requested(dev)); Params params = new Params(be, cfg.seed())) {
      Gpt model = new Gpt(TrainConfigs.gpt(cfg, tok.vocabSize()), params, LayerFactory.LOCAL);
      Checkpoints.loadParams(ck, params);
      Rng rng = new Rng(seed);
      int[] out = Arrays.copyOf(context, context.length + tokens);
      int len = context.length;
      int block = cfg.blockSize();
      int vocab = tok.vocabSize();
      for (int i = 0; i < tokens; i++) {
        int start = Math.max(0, len - block);
        int t = len - start;
        try (Tensor ids = be.fromInts(Arrays.copyOfRange(out, start, len), 1, t);
            Gpt.Ctx ctx = model.forward(ids, null, 0)) {
          float[] logits = be.read(ctx.logits);
          out[len++] = pick(Arrays.copyOfRange(logits, (t - 1) * vocab, t * vocab), temperature, topK, rng);
        }
      }
      return (prompt.isEmpty() ? "" : prompt) + tok.decode(Arrays.copyOfRange(out, context.length, len));
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  static int pick(float[] logits, float temperature, int topK, Rng rng) {
    double[] p = new double[logits.length];
    float cut = Float.NEGATIVE_INFINITY;
    if (topK > 0 && topK < logits.length) {
      float[] sorted = logits.clone();
      Arrays.sort(sorted);
      cut = sorted[sorted.length - topK];
    }
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = logits[i] < cut ? 0 : Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    double u = rng.nextDouble() * sum;
    for (int i = 0; i < p.length; i++) {
      u -= p[i];
      if (u < 0) {
        return i;
      }
    }
    return p.length - 1;
  }
}
