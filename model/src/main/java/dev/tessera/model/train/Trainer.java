package dev.tessera.model.train;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Params;
import dev.tessera.model.Rng;
import dev.tessera.model.data.Batch;
import dev.tessera.model.data.DataSource;
import dev.tessera.model.layers.Gpt;
import dev.tessera.model.optim.AdamW;
import dev.tessera.model.optim.LrSchedule;

/**
 * The single-worker training step: gradient accumulation over micro-batches, global-norm clipping,
 * AdamW with the LR schedule; and evaluation on fixed validation batches. All randomness after
 * initialisation comes from one data {@link Rng}, so a run restored from {@link #state} continues
 * bit-identically.
 */
public final class Trainer implements AutoCloseable {

  /** Hyper-parameters of the step. batchSize is per micro-batch; tokens per step = batch x block x accum. */
  public record Options(int batchSize, int blockSize, int gradAccum, float gradClip, LrSchedule lr, float beta1,
      float beta2, float eps, float weightDecay, long seed, int evalBatches) {
  }

  /** What one optimizer step did. */
  public record StepResult(int step, double loss, float lr, double gradNorm, long tokens, double seconds) {
  }

  private final Backend be;
  private final Gpt model;
  private final DataSource data;
  private final Options o;
  private final AdamW adam;
  private final Rng dataRng;
  private final Tensor normPart;
  private final Tensor normTotal;
  private final Tensor normSliced;
  private final Distribution dist;

  public Trainer(Gpt model, DataSource data, Options o) {
    this(model, data, o, Distribution.ALONE);
  }

  /** A worker of a parallel layout ({@code dist}); the batch options mean the global batch. */
  public Trainer(Gpt model, DataSource data, Options o, Distribution dist) {
    this.be = model.params().backend();
    this.model = model;
    this.data = data;
    this.o = o;
    this.adam = new AdamW(model.params(), o.beta1(), o.beta2(), o.eps(), o.weightDecay());
    this.dataRng = Rng.derive(o.seed(), "data");
    this.normPart = be.zeros(1);
    this.normTotal = be.zeros(1);
    this.normSliced = be.zeros(1);
    this.dist = dist;
  }

  public Gpt model() {
    return model;
  }

  /** Optimizer steps done so far; the next {@link #step()} is this one. */
  public int stepsDone() {
    return adam.steps();
  }

  public StepResult step() {
    long t0 = System.nanoTime();
    int step = adam.steps();
    float lr = o.lr().at(step);
    model.params().zeroGrads();
    double lossSum = 0;
    long tokens = 0;
    for (int micro = 0; micro < o.gradAccum(); micro++) {
      try (Share share = new Share(data.train(dataRng, o.batchSize(), o.blockSize()))) {
        Gpt.Ctx ctx = share.ctx;
        double loss = dist.sumOverData(be.readScalar(ctx.lossSum), step) / ctx.counted;
        if (!Double.isFinite(loss)) {
          throw new TrainingDivergedException("step " + step + ": the training loss is " + loss
              + " (micro-batch " + micro + "); lower the learning-rate or check the data");
        }
        lossSum += loss;
        tokens += ctx.counted;
        boolean last = micro == o.gradAccum() - 1;
        model.backward(ctx, 1f / (ctx.counted * (float) o.gradAccum()),
            last ? ready -> dist.gradientsReady(ready, step) : Gpt.GradientsReady.NONE);
      }
    }
    dist.reduceGradients(model.params(), step);
    double norm = gradNorm(step);
    if (!Double.isFinite(norm)) {
      throw new TrainingDivergedException("step " + step + ": the gradient norm is " + norm);
    }
    if (o.gradClip() > 0) {
      double coef = o.gradClip() / (norm + 1e-6);
      if (coef < 1) {
        for (Params.Segment seg : model.params().segments()) {
          be.scale(seg.grads(), (float) coef);
        }
      }
    }
    dist.update(adam, model.params(), lr, step);
    return new StepResult(step, lossSum / o.gradAccum(), lr, norm, tokens, (System.nanoTime() - t0) / 1e9);
  }

  /**
   * The global L2 norm of all gradients, summed on the device and read once (sliced and replicated
   * parameters apart, for a tensor-parallel layout to combine).
   */
  private double gradNorm(long step) {
    be.fill(normTotal, 0f);
    be.fill(normSliced, 0f);
    for (Params.Segment seg : model.params().segments()) {
      be.sumSquares(normPart, seg.grads());
      be.axpy(seg.sliced() ? normSliced : normTotal, 1f, normPart);
    }
    return Math.sqrt(dist.globalSquaredNorm(be.readScalar(normSliced), be.readScalar(normTotal), step));
  }

  /**
   * Mean loss over the fixed validation batches. Under data parallelism each worker evaluates its
   * rows of every batch and the per-batch means are summed over the workers once, at the end (every
   * worker of a layout must call this at the same point).
   */
  public double evaluate() {
    double sum = 0;
    for (int i = 0; i < o.evalBatches(); i++) {
      try (Share share = new Share(data.validation(i, o.batchSize(), o.blockSize()))) {
        sum += be.readScalar(share.ctx.lossSum) / share.ctx.counted;
      }
    }
    return dist.sumOverData(sum, adam.steps()) / o.evalBatches();
  }

  /**
   * This worker's rows of a global batch (its data-parallel share) on the device, and the forward
   * pass over them; the loss is scaled by the global batch's token count.
   */
  private final class Share implements AutoCloseable {
    final Tensor ids;
    final Tensor targets;
    final Gpt.Ctx ctx;

    Share(Batch batch) {
      int[] rows = dist.rows(batch.batch());
      int from = rows[0] * batch.block();
      int to = rows[1] * batch.block();
      int[] hostTargets = java.util.Arrays.copyOfRange(batch.targets(), from, to);
      ids = be.fromInts(java.util.Arrays.copyOfRange(batch.ids(), from, to), rows[1] - rows[0], batch.block());
      Tensor t = null;
      try {
        t = be.fromInts(hostTargets, rows[1] - rows[0], batch.block());
        ctx = model.forward(ids, t, hostTargets, batch.ids().length);
      } catch (RuntimeException | Error e) {
        if (t != null) {
          t.close();
        }
        ids.close();
        throw e;
      }
      targets = t;
    }

    @Override
    public void close() {
      try (ids; targets) {
        ctx.close();
      }
    }
  }

  /** The baselines on the same validation batches as {@link #evaluate}, if the data knows them. */
  public java.util.Optional<double[]> baselines() {
    return data.baselines().map(b -> {
      double bayes = 0;
      double unigram = 0;
      for (int i = 0; i < o.evalBatches(); i++) {
        Batch batch = data.validation(i, o.batchSize(), o.blockSize());
        bayes += b.bayesOptimal(batch);
        unigram += b.unigram(batch);
      }
      return new double[] {bayes / o.evalBatches(), unigram / o.evalBatches(), b.contextFree()};
    });
  }

  /** Everything a checkpoint must hold beyond the parameters and moments. */
  public long dataRngState() {
    return dataRng.state();
  }

  public AdamW optimizer() {
    return adam;
  }

  /** Restores the step count and the data position of a checkpoint (parameters and moments are written directly). */
  public void restore(int steps, long dataRngState) {
    adam.setSteps(steps);
    dataRng.setState(dataRngState);
  }

  @Override
  public void close() {
    adam.close();
    normPart.close();
    normTotal.close();
    normSliced.close();
  }
}
