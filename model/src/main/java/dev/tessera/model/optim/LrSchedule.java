package dev.tessera.model.optim;

/**
 * Linear warm-up then cosine decay to {@code minLr} at {@code decaySteps}, constant after (nanoGPT's
 * schedule). Steps count from 0.
 */
public record LrSchedule(float maxLr, float minLr, int warmupSteps, int decaySteps) {

  public LrSchedule {
    if (maxLr <= 0 || minLr < 0 || minLr > maxLr) {
      throw new IllegalArgumentException("need 0 <= min-lr <= learning-rate and learning-rate > 0, got " + minLr
          + " and " + maxLr);
    }
    if (warmupSteps < 0 || decaySteps < warmupSteps) {
      throw new IllegalArgumentException("need 0 <= warmup-steps <= lr-decay-steps, got " + warmupSteps + " and "
          + decaySteps);
    }
  }

  public float at(int step) {
    if (step < warmupSteps) {
      return maxLr * (step + 1) / (warmupSteps + 1);
    }
    if (step > decaySteps) {
      return minLr;
    }
    double ratio = decaySteps == warmupSteps ? 1.0 : (double) (step - warmupSteps) / (decaySteps - warmupSteps);
    double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
    return (float) (minLr + coeff * (maxLr - minLr));
  }
}
