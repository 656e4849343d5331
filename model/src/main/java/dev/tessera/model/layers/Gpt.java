package dev.tessera.model.layers;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT (GPT-2/nanoGPT, with Llama-style options): token embeddings (+ learned positions), blocks, a
 * final norm and an output head tied to the token embedding. {@link #forward} returns everything
 * {@link #backward} needs; the model holds no per-batch state.
 */
public final class Gpt {
  private final GptConfig cfg;
  private final Backend be;
  private final Params params;
  private final Param wte;
  private final Param wpe;
  private final List<Block> blocks = new ArrayList<>();
  private final Norm normF;

  public Gpt(GptConfig cfg, Params params, LayerFactory layers) {
    this.cfg = cfg;
    this.params = params;
    this.be = params.backend();
    wte = params.normal("wte", 0.02f, cfg.vocabSize(), cfg.nEmbd());
    wpe = cfg.positions() == GptConfig.Positions.LEARNED ? params.normal("wpe", 0.02f, cfg.blockSize(), cfg.nEmbd())
        : null;
    for (int i = 0; i < cfg.nLayer(); i++) {
      blocks.add(new Block(params, layers, "h." + i, cfg));
    }
    normF = new Norm(params, "norm_f", cfg.nEmbd(), cfg.norm(), cfg.bias());
    params.pack();
  }

  public GptConfig config() {
    return cfg;
  }

  public Params params() {
    return params;
  }

  /** Everything one forward pass made; close it after backward. */
  public static final class Ctx extends Saved {
    Tensor ids;
    Tensor targets;
    Tensor positions;
    Tensor x0;
    final List<Block.Ctx> blocks = new ArrayList<>();
    Norm.Ctx nf;
    /** [B, T, V]. */
    public Tensor logits;
    Tensor losses;
    Tensor lse;
    /** Tokens whose loss counts (targets that are not negative). */
    public int counted;
    /** Device scalar: the sum of the per-token losses. */
    public Tensor lossSum;
  }

  /**
   * ids (and targets, or null for logits only) are [B, T] int32 tensors; T at most block-size.
   * The loss is the mean cross-entropy over tokens: {@code lossSum / counted}.
   */
  public Ctx forward(Tensor ids, Tensor targets, int countedTargets) {
    int b = ids.shape().dim(0);
    int t = ids.shape().dim(1);
    if (t > cfg.blockSize()) {
      throw new IllegalArgumentException("sequence of " + t + " tokens is longer than block-size " + cfg.blockSize());
    }
    Ctx c = new Ctx();
    c.ids = ids;
    c.targets = targets;
    c.x0 = c.keep(be.empty(DType.F32, Shape.of(b, t, cfg.nEmbd())));
    be.embedding(c.x0, wte.value(), ids);
    if (wpe != null) {
      int[] pos = new int[b * t];
      for (int i = 0; i < pos.length; i++) {
        pos[i] = i % t;
      }
      c.positions = c.keep(be.fromInts(pos, b, t));
      try (Tensor pe = be.empty(DType.F32, Shape.of(b, t, cfg.nEmbd()))) {
        be.embedding(pe, wpe.value(), c.positions);
        be.add(c.x0, c.x0, pe);
      }
    }
    Tensor x = c.x0;
    for (Block block : blocks) {
      Block.Ctx bc = c.keep(block.forward(x));
      c.blocks.add(bc);
      x = bc.out;
    }
    c.nf = c.keep(normF.forward(x));
    c.logits = c.keep(be.empty(DType.F32, Shape.of(b, t, cfg.vocabSize())));
    be.matmul(c.logits, c.nf.out, wte.value(), false, true);
    if (targets != null) {
      c.counted = countedTargets;
      c.losses = c.keep(be.empty(DType.F32, Shape.of(b * t)));
      c.lse = c.keep(be.empty(DType.F32, Shape.of(b * t)));
      be.crossEntropy(c.losses, c.lse, be.view(c.logits, b * t, cfg.vocabSize()), be.view(targets, b * t));
      c.lossSum = c.keep(be.empty(DType.F32, Shape.of(1)));
      be.sum(c.lossSum, c.losses);
    }
    return c;
  }

  /**
   * Backpropagates {@code lossScale * lossSum} (use 1 / (counted tokens x micro-batches) for the mean);
   * parameter gradients accumulate.
   */
  public void backward(Ctx c, float lossScale) {
    int b = c.ids.shape().dim(0);
    int t = c.ids.shape().dim(1);
    try (Tensor dLogits = be.zeros(b, t, cfg.vocabSize())) {
      be.crossEntropyBackward(be.view(dLogits, b * t, cfg.vocabSize()), be.view(c.logits, b * t, cfg.vocabSize()),
          be.view(c.targets, b * t), c.lse, lossScale);
      Tensor dx = be.zeros(b, t, cfg.nEmbd());
      try (Tensor dnf = be.zeros(b, t, cfg.nEmbd())) {
        be.matmul(dnf, dLogits, wte.value(), false, false);
        be.matmul(wte.grad(), dLogits, c.nf.out, true, false, 1f, 1f);
        normF.backward(c.nf, dnf, dx);
      }
      for (int i = blocks.size() - 1; i >= 0; i--) {
        Tensor prev = dx;
        dx = blocks.get(i).backward(c.blocks.get(i), prev);
        prev.close();
      }
      be.embeddingBackward(wte.grad(), dx, c.ids);
      if (wpe != null) {
        be.embeddingBackward(wpe.grad(), dx, c.positions);
      }
      dx.close();
    }
  }
}
