package dev.tessera.coordinator.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * The options that are keys of a run's config (the same names, without the dashes, in a YAML
 * file), shared by {@code tessera train} and {@code tessera launch}. Options win over the file, the
 * file over the defaults; only the options given are passed on.
 */
public final class ConfigOptions {
  // ---- data
  @Option(names = "--data", paramLabel = "PATH", description = "A text file or a directory of them, or 'builtin' for "
      + "the generated Markov corpus (default: builtin).")
  String data;
  @Option(names = "--tokenizer", description = "char (vocabulary from the text) or byte (256) (default: char).")
  String tokenizer;
  @Option(names = "--val-fraction", description = "Share of the text held out for validation, from its end "
      + "(default: 0.1).")
  Double valFraction;
  @Option(names = "--markov-order", description = "Built-in corpus: symbols of context that decide the next one "
      + "(default: 1).")
  Integer markovOrder;
  @Option(names = "--markov-alphabet", description = "Built-in corpus: number of symbols, 2 to 26 (default: 8).")
  Integer markovAlphabet;
  @Option(names = "--markov-alpha", description = "Built-in corpus: Dirichlet concentration of each transition row; "
      + "smaller is more predictable (default: 0.1).")
  Double markovAlpha;

  // ---- model
  @Option(names = "--n-layer", description = "Transformer blocks (default: 2).")
  Integer nLayer;
  @Option(names = "--n-head", description = "Attention heads; divides n-embd (default: 4).")
  Integer nHead;
  @Option(names = "--n-embd", description = "Model width (default: 64).")
  Integer nEmbd;
  @Option(names = "--block-size", description = "Context length in tokens (default: 64).")
  Integer blockSize;
  @Option(names = "--bias", arity = "1", description = "Biases in linear layers and LayerNorm: true or false "
      + "(default: false).")
  Boolean bias;
  @Option(names = "--norm", description = "layernorm or rmsnorm (default: layernorm).")
  String norm;
  @Option(names = "--mlp", description = "gelu (GPT-2) or swiglu (Llama) (default: gelu).")
  String mlp;
  @Option(names = "--positions", description = "learned (GPT-2) or rotary (Llama) (default: learned).")
  String positions;
  @Option(names = "--mlp-hidden", description = "MLP hidden width; 0 = 4 x n-embd for gelu, 8/3 x n-embd for swiglu "
      + "(default: 0).")
  Integer mlpHidden;
  @Option(names = "--rope-base", description = "Rotary base (default: 10000).")
  Float ropeBase;

  // ---- optimizer
  @Option(names = "--learning-rate", description = "Peak learning rate (default: 3e-3).")
  Float learningRate;
  @Option(names = "--min-lr", description = "Learning rate at the end of the cosine decay (default: 3e-4).")
  Float minLr;
  @Option(names = "--warmup-steps", description = "Linear warm-up steps (default: 50).")
  Integer warmupSteps;
  @Option(names = "--lr-decay-steps", description = "Step at which the cosine decay ends; 0 = steps (default: 0).")
  Integer lrDecaySteps;
  @Option(names = "--weight-decay", description = "AdamW decoupled weight decay, on matrices only (default: 0.1).")
  Float weightDecay;
  @Option(names = "--beta1", description = "AdamW beta1 (default: 0.9).")
  Float beta1;
  @Option(names = "--beta2", description = "AdamW beta2 (default: 0.99).")
  Float beta2;
  @Option(names = "--eps", description = "AdamW epsilon (default: 1e-8).")
  Float eps;
  @Option(names = "--grad-clip", description = "Clip the global gradient norm to this; 0 = off (default: 1.0).")
  Float gradClip;
  @Option(names = "--batch-size", description = "Sequences per micro-batch (default: 64).")
  Integer batchSize;
  @Option(names = "--grad-accum", description = "Micro-batches per optimizer step (default: 1).")
  Integer gradAccum;

  // ---- run
  @Option(names = "--steps", description = "Optimizer steps (default: 800).")
  Integer steps;
  @Option(names = "--seed", description = "Seed of the initial weights and the data order (default: 1337).")
  Long seed;
  @Option(names = "--device", description = "auto, gpu, cpu, java or reference (default: $TESSERA_DEVICE, else "
      + "auto).")
  String device;
  @Option(names = "--devices", split = ",", paramLabel = "N,...", description = "The OpenCL devices (of the kind "
      + "--device asks for, numbered from 0 as 'tessera devices' lists them) the workers take: worker r the "
      + "(r mod n)-th of the list (default: all; worker r takes device r mod their count).")
  java.util.List<Integer> devices;
  @Option(names = "--eval-every", description = "Validation loss every N steps, and at the end; 0 = only at the end "
      + "(default: 100).")
  Integer evalEvery;
  @Option(names = "--eval-batches", description = "Validation batches per evaluation (default: 8).")
  Integer evalBatches;
  @Option(names = "--checkpoint-every", description = "Checkpoint every N steps, and at the end; 0 = only at the end "
      + "(default: 200).")
  Integer checkpointEvery;
  @Option(names = "--log-every", description = "Log a step line every N steps (default: 25).")
  Integer logEvery;
  @Option(names = "--out", paramLabel = "DIR", description = "The run directory (default: runs/<time>-<data>).")
  String out;

  // ---- layout
  @Option(names = "--dp", description = "Data-parallel workers (threads of this process with train, worker "
      + "processes with launch); batch options mean the global batch (default: 1).")
  Integer dp;
  @Option(names = "--tp", description = "Tensor-parallel workers (heads and MLP split), threads with train, processes "
      + "with launch (default: 1).")
  Integer tp;
  @Option(names = "--dp-codec", description = "How data-parallel gradients travel: fp32 (exact), bf16, int8, fp8, "
      + "onebit or topk[:FRACTION], the lossy ones with error feedback (default: fp32).")
  String dpCodec;
  @Option(names = "--dp-exact-steps", description = "Steps whose data-parallel gradients travel exactly before "
      + "--dp-codec takes over (default: 0).")
  Integer dpExactSteps;
  @Option(names = "--dp-compress", description = "What a lossy --dp-codec compresses: grads, or momentum (1-bit "
      + "Adam: after the --dp-exact-steps warm-up, AdamW's momentum is summed through the codec and the variance "
      + "frozen) (default: grads).")
  String dpCompress;
  @Option(names = "--sequence-parallel", arity = "0..1", fallbackValue = "true", description = "With tp > 1: "
      + "norms, residuals and embeddings each on 1/tp of the tokens (Megatron's sequence parallelism) "
      + "(default: false).")
  Boolean sequenceParallel;
  @Option(names = "--dp-overlap", arity = "0..1", fallbackValue = "true", description = "Sum each block's "
      + "data-parallel gradients (exact or through --dp-codec) while the blocks below still run their backward "
      + "(default: true; false sums them all after the backward).")
  Boolean dpOverlap;
  @Option(names = "--dp-bucket-mb", paramLabel = "MB", description = "With --dp-overlap: a data-parallel sum "
      + "starts once the blocks handed over since the last one hold this many MB of fp32 gradients (fewer, larger "
      + "collectives; each costs a fixed time per member) (default: 0, a sum per block).")
  Float dpBucketMb;

  /** The config keys given on {@code spec}'s command line with their values (options in {@code notConfig} left out). */
  public static Map<String, Object> given(CommandSpec spec, Set<String> notConfig) {
    Map<String, Object> given = new LinkedHashMap<>();
    for (OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
      if (!notConfig.contains(o.longestName())) {
        given.put(o.longestName().substring(2), o.getValue());
      }
    }
    return given;
  }
}
