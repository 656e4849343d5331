package dev.tessera.worker;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

/**
 * Every setting of a training run. The keys (kebab-case: {@code n-layer}, {@code learning-rate})
 * are the same in a config file and on the command line; docs/configuration.md documents each one.
 * {@link TrainConfigs} fills in defaults, merges a YAML file and options, and validates.
 */
@JsonNaming(PropertyNamingStrategies.KebabCaseStrategy.class)
public record TrainConfig(
    // data
    String data,
    String tokenizer,
    Double valFraction,
    Integer markovOrder,
    Integer markovAlphabet,
    Double markovAlpha,
    // model
    Integer nLayer,
    Integer nHead,
    Integer nEmbd,
    Integer blockSize,
    Boolean bias,
    String norm,
    String mlp,
    String positions,
    Integer mlpHidden,
    Float ropeBase,
    // optimizer
    Float learningRate,
    Float minLr,
    Integer warmupSteps,
    Integer lrDecaySteps,
    Float weightDecay,
    Float beta1,
    Float beta2,
    Float eps,
    Float gradClip,
    Integer batchSize,
    Integer gradAccum,
    // run
    Integer steps,
    Long seed,
    String device,
    java.util.List<Integer> devices,
    Integer evalEvery,
    Integer evalBatches,
    Integer checkpointEvery,
    Integer logEvery,
    String out,
    // layout (ranks as threads of one process, or worker processes: tessera launch)
    Integer dp,
    Integer tp,
    String dpCodec,
    Integer dpExactSteps,
    String dpCompress,
    Boolean sequenceParallel,
    Boolean dpOverlap,
    Float dpBucketMb) {

  /** True when the run trains on the built-in Markov corpus. */
  @com.fasterxml.jackson.annotation.JsonIgnore
  public boolean isBuiltin() {
    return BUILTIN.equals(data);
  }

  /** Workers of the layout (dp x tp). */
  @com.fasterxml.jackson.annotation.JsonIgnore
  public int workers() {
    return dp * tp;
  }

  /** Whether a checkpoint is written after {@code done} steps (every worker of a layout asks). */
  public boolean checkpointsAt(int done) {
    return done == steps || (checkpointEvery > 0 && done % checkpointEvery == 0);
  }

  /** Whether the validation loss is computed after {@code done} steps (every worker of a layout asks). */
  public boolean evaluatesAt(int done) {
    return done == steps || (evalEvery > 0 && done % evalEvery == 0);
  }

  /** The value of {@code data} that selects the built-in Markov corpus. */
  public static final String BUILTIN = "builtin";

  /**
   * Defaults: the built-in corpus (order-1 chains over 8 symbols, Dirichlet 0.1) and a 2-layer,
   * 64-wide model, sized so that {@code tessera train} with no arguments finishes in a few minutes
   * on two CPU cores and ends well below the context-free loss.
   */
  public static final TrainConfig DEFAULTS = new TrainConfig(
      BUILTIN, "char", 0.1, 1, 8, 0.1,
      2, 4, 64, 64, false, "layernorm", "gelu", "learned", 0, 10000f,
      3e-3f, 3e-4f, 50, 0, 0.1f, 0.9f, 0.99f, 1e-8f, 1.0f, 64, 1,
      800, 1337L, "auto", java.util.List.of(), 100, 8, 200, 25, "", 1, 1, "fp32", 0, "grads", false, true, 0f);
}
