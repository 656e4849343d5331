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
  /** Null when this worker holds the whole vocabulary; else its share (vocab-parallel). */
  private final VocabSplit vocab;
  /** Classes this worker holds (rows of wte, logits per token) and the first of them. */
  private final int shard;
  private final int firstClass;
  private final Region region;
  private final Param wpe;
  private final List<Block> blocks = new ArrayList<>();
  private final Norm normF;

  public Gpt(GptConfig cfg, Params params, LayerFactory layers) {
    this.cfg = cfg;
    this.params = params;
    this.be = params.backend();
    region = layers.region();
    vocab = layers.vocab() != null && layers.vocab().parts() > 1 ? layers.vocab() : null;
    if (vocab == null) {
      shard = cfg.vocabSize();
      firstClass = 0;
      wte = params.normal("wte", 0.02f, cfg.vocabSize(), cfg.nEmbd());
    } else {
      int padded = (cfg.vocabSize() + vocab.parts() - 1) / vocab.parts() * vocab.parts();
      shard = padded / vocab.parts();
      firstClass = vocab.index() * shard;
      wte = params.normalRowsPadded("wte", 0.02f, vocab.index(), vocab.parts(), cfg.vocabSize(), padded, cfg.nEmbd());
    }
    wpe = cfg.positions() == GptConfig.Positions.LEARNED
        ? params.markPerToken(params.normal("wpe", 0.02f, cfg.blockSize(), cfg.nEmbd()))
        : null;
    for (int i = 0; i < cfg.nLayer(); i++) {
      blocks.add(new Block(params, layers, "h." + i, cfg));
    }
    normF = new Norm(params, "norm_f", cfg.nEmbd(), cfg.norm(), cfg.bias());
    params.pack();
    List<Param> perToken = params.perToken();
    for (int i = 0; i < cfg.nLayer(); i++) {
      String prefix = "h." + i + ".";
      blockParams.add(params.all().stream().filter(p -> p.name().startsWith(prefix) && !perToken.contains(p))
          .toList());
    }
  }

  /**
   * Told during a backward pass which parameters' gradients are complete: each block's (less those
   * summed per token at the end, {@link Params#perToken}) as soon as the block is done, so that a
   * data-parallel worker can sum them while the blocks below still run.
   */
  public interface GradientsReady {
    GradientsReady NONE = ready -> { };

    void ready(List<Param> params);
  }

  /** Per block, the parameters whose gradients are complete once the block's backward is done. */
  private final List<List<Param>> blockParams = new ArrayList<>();

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
    /** The final norm's output for every token (the head's input). */
    Tensor head;
    /** [B, T, V]; under a vocabulary split, [B, T, shard]: this worker's classes only. */
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
    return forward(ids, targets, null, countedTargets);
  }

  /**
   * As {@link #forward(Tensor, Tensor, int)}, with the targets also on the host where the caller has
   * them (the vocab-parallel loss needs to know which worker holds each target; else it reads them).
   */
  public Ctx forward(Tensor ids, Tensor targets, int[] hostTargets, int countedTargets) {
    int b = ids.shape().dim(0);
    int t = ids.shape().dim(1);
    if (t > cfg.blockSize()) {
      throw new IllegalArgumentException("sequence of " + t + " tokens is longer than block-size " + cfg.blockSize());
    }
    Ctx c = new Ctx();
    c.ids = ids;
    c.targets = targets;
    region.batch(b, t);
    int[] mine = region.tokens(b, t); // this worker's tokens outside the tensor-parallel region
    Tensor x0 = be.empty(DType.F32, Shape.of(b, t, cfg.nEmbd()));
    if (vocab == null) {
      be.embedding(x0, wte.value(), ids);
    } else {
      be.embeddingShard(x0, wte.value(), ids, firstClass);
    }
    // Each worker's rows are the ids it holds (zeros elsewhere): leaving the region sums them.
    c.x0 = c.keep(region.leave(be, x0));
    if (wpe != null) {
      int[] pos = new int[mine[1] - mine[0]];
      for (int i = 0; i < pos.length; i++) {
        pos[i] = (mine[0] + i) % t;
      }
      c.positions = c.keep(be.fromInts(pos, pos.length));
      try (Tensor pe = be.empty(DType.F32, c.x0.shape())) {
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
    c.head = region.enter(be, c.nf.out); // every token, for the logits of this worker's classes
    if (c.head != c.nf.out) {
      c.keep(c.head);
    }
    c.logits = c.keep(be.empty(DType.F32, Shape.of(b, t, shard)));
    be.matmul(c.logits, c.head, wte.value(), false, true);
    if (vocab != null && firstClass + shard > cfg.vocabSize()) {
      // Padding classes: logits of -1e30 take no probability and get no gradient.
      float[] mask = new float[shard];
      java.util.Arrays.fill(mask, Math.max(0, cfg.vocabSize() - firstClass), shard, -1e30f);
      try (Tensor m = be.fromArray(mask, shard)) {
        be.addBias(c.logits, c.logits, m);
      }
    }
    if (targets != null) {
      c.counted = countedTargets;
      c.losses = c.keep(be.empty(DType.F32, Shape.of(b * t)));
      c.lse = c.keep(be.empty(DType.F32, Shape.of(b * t)));
      c.lossSum = c.keep(be.empty(DType.F32, Shape.of(1)));
      if (vocab == null) {
        be.crossEntropy(c.losses, c.lse, be.view(c.logits, b * t, shard), be.view(targets, b * t));
        be.sum(c.lossSum, c.losses);
      } else {
        vocabParallelLoss(c, be.view(c.logits, b * t, shard), be.view(targets, b * t), hostTargets);
      }
    }
    return c;
  }

  /**
   * The loss from this worker's logits alone: each part's log-sum-exp (gathered) and the target's
   * logit (from the part that holds it, summed) give every token's loss; c.lse gets the whole
   * log-sum-exp, for the backward pass.
   */
  private void vocabParallelLoss(Ctx c, Tensor logits, Tensor targets, int[] hostTargets) {
    be.crossEntropyShard(c.losses, c.lse, logits, targets, firstClass);
    float[] lse = be.read(c.lse);
    float[] partial = be.read(c.losses);
    int[] tg = hostTargets != null ? hostTargets : be.readInts(targets);
    int n = lse.length;
    float[] picked = new float[n];
    for (int r = 0; r < n; r++) {
      boolean mine = tg[r] >= firstClass && tg[r] < firstClass + shard;
      picked[r] = mine ? lse[r] - partial[r] : 0f;
    }
    vocab.sum(picked);
    float[] all = vocab.gather(lse);
    float[] whole = new float[n];
    float[] losses = new float[n];
    double sum = 0;
    for (int r = 0; r < n; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int part = 0; part < vocab.parts(); part++) {
        max = Math.max(max, all[part * n + r]);
      }
      double s = 0;
      for (int part = 0; part < vocab.parts(); part++) {
        s += Math.exp(all[part * n + r] - max);
      }
      whole[r] = (float) (max + Math.log(s));
      if (tg[r] >= 0) {
        losses[r] = whole[r] - picked[r];
        sum += losses[r];
      }
    }
    be.write(c.lse, whole);
    be.write(c.losses, losses);
    be.write(c.lossSum, new float[] {(float) sum});
  }

  /**
   * Backpropagates {@code lossScale * lossSum} (use 1 / (counted tokens x micro-batches) for the mean);
   * parameter gradients accumulate.
   */
  public void backward(Ctx c, float lossScale) {
    backward(c, lossScale, GradientsReady.NONE);
  }

  /** {@link #backward(Ctx, float)}, telling {@code ready} of each block's finished gradients. */
  public void backward(Ctx c, float lossScale, GradientsReady ready) {
    int b = c.ids.shape().dim(0);
    int t = c.ids.shape().dim(1);
    try (Tensor dLogits = be.zeros(b, t, shard)) {
      if (vocab == null) {
        be.crossEntropyBackward(be.view(dLogits, b * t, shard), be.view(c.logits, b * t, shard),
            be.view(c.targets, b * t), c.lse, lossScale);
      } else {
        be.crossEntropyShardBackward(be.view(dLogits, b * t, shard), be.view(c.logits, b * t, shard),
            be.view(c.targets, b * t), c.lse, lossScale, firstClass);
      }
      Tensor dx = be.zeros(c.nf.out.shape().toArray());
      try (Tensor dnf = be.zeros(c.nf.out.shape().toArray())) {
        // Each worker's share of the gradient through the logits it holds, summed on leaving the head.
        Tensor dHead = region.enterGradient(be, dnf, c.head);
        be.matmul(dHead, dLogits, wte.value(), false, false, 1f, 1f);
        region.enterBackward(be, dHead, dnf);
        be.matmul(wte.grad(), dLogits, c.head, true, false, 1f, 1f);
        normF.backward(c.nf, dnf, dx);
      }
      for (int i = blocks.size() - 1; i >= 0; i--) {
        Tensor prev = dx;
        dx = blocks.get(i).backward(c.blocks.get(i), prev);
        prev.close();
        ready.ready(blockParams.get(i));
      }
      if (wpe != null) {
        be.embeddingBackward(wpe.grad(), dx, c.positions);
      }
      Tensor dEmbedding = region.leaveBackward(be, dx); // every token's gradient
      if (vocab == null) {
        be.embeddingBackward(wte.grad(), be.view(dEmbedding, b, t, cfg.nEmbd()), c.ids);
      } else {
        be.embeddingShardBackward(wte.grad(), be.view(dEmbedding, b, t, cfg.nEmbd()), c.ids, firstClass);
      }
      if (dEmbedding != dx) {
        dEmbedding.close();
      }
      dx.close();
    }
    region.sumTokenGrads(be, params.perToken());
  }
}
