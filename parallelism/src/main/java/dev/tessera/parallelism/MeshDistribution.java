package dev.tessera.parallelism;

import dev.tessera.model.Params;
import dev.tessera.model.optim.AdamW;
import dev.tessera.model.train.Distribution;

/**
 * A worker of a dp x tp layout in the trainer: it trains on its dp share of every global batch,
 * sums loss and gradients over dp, and combines the gradient norm over tp (its shards' squares
 * summed over the tp group; replicated parameters counted once, as every tp worker holds them whole).
 */
public final class MeshDistribution implements Distribution {
  private final DataParallel dp;
  private final TensorParallel tp;

  /** @param dp null without data parallelism; @param tp null without tensor parallelism */
  public MeshDistribution(DataParallel dp, TensorParallel tp) {
    this.dp = dp;
    this.tp = tp;
  }

  @Override
  public int[] rows(int rows) {
    if (dp == null) {
      return new int[] {0, rows};
    }
    if (rows % dp.size() != 0) {
      throw new IllegalArgumentException("a batch of " + rows + " sequences does not split over dp=" + dp.size()
          + "; use a batch size that is a multiple of " + dp.size());
    }
    int share = rows / dp.size();
    return new int[] {dp.index() * share, (dp.index() + 1) * share};
  }

  @Override
  public double sumOverData(double x, long step) {
    return dp == null ? x : dp.allReduceScalar(x, step);
  }

  @Override
  public void gradientsReady(java.util.List<dev.tessera.model.Param> ready, long step) {
    if (dp != null) {
      dp.gradientsReady(ready, step);
    }
  }

  @Override
  public void reduceGradients(Params params, long step) {
    if (dp != null) {
      dp.allReduceGrads(params, step);
    }
  }

  @Override
  public double globalSquaredNorm(double sharded, double replicated, long step) {
    double mine = (tp == null ? sharded : tp.sumScalar(sharded)) + replicated;
    if (dp != null && dp.momentumStage(step)) {
      // The gradients stayed local: n * (sum of the workers' squares) bounds the sum's square
      // (Cauchy-Schwarz), so clipping by it never clips less than the exact run would.
      return dp.size() * dp.allReduceScalar(mine, step);
    }
    return mine;
  }

  @Override
  public void update(AdamW adam, Params params, float lr, long step) {
    if (dp != null && dp.momentumStage(step)) {
      dp.updateWithCompressedMomentum(adam, params, lr, step);
    } else {
      adam.step(lr);
    }
  }
}
