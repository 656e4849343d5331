package dev.tessera.worker;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.tessera.model.GptConfig;
import dev.tessera.model.optim.LrSchedule;
import dev.tessera.model.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Resolves a {@link TrainConfig}: defaults, then a YAML file, then command-line options; then validates. */
public final class TrainConfigs {
  private static final ObjectMapper YAML = JsonMapper.builder(new YAMLFactory()
          .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .build();

  static {
    // "four" for an integer, or 1.5 for an integer, is an error, not a silent conversion.
    YAML.coercionConfigDefaults().setCoercion(CoercionInputShape.String, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
  }

  private TrainConfigs() {
  }

  /**
   * @param file a YAML config file, or null
   * @param options the options given on the command line, by key
   */
  public static TrainConfig resolve(Path file, Map<String, Object> options) {
    ObjectNode tree = YAML.valueToTree(TrainConfig.DEFAULTS);
    String envDevice = System.getenv(dev.tessera.kernels.Backends.ENV);
    if (envDevice != null && !envDevice.isBlank()) {
      tree.put("device", envDevice.trim()); // $TESSERA_DEVICE is the default device
    }
    if (file != null) {
      merge(tree, readFile(file), "config file " + file);
    }
    merge(tree, YAML.valueToTree(options), "command line");
    TrainConfig c = bind(tree, file == null ? "command line" : "config file " + file);
    validate(c);
    return c;
  }

  /** Reads a resolved config (a run directory's config.yaml) as it is. */
  public static TrainConfig read(Path file) {
    TrainConfig c = bind(readFile(file), "config file " + file);
    validate(c);
    return c;
  }

  /** {@code c} with some keys changed (e.g. the layout a planner chose), validated again. */
  public static TrainConfig with(TrainConfig c, Map<String, Object> changes) {
    ObjectNode tree = YAML.valueToTree(c);
    merge(tree, YAML.valueToTree(changes), "changed keys");
    TrainConfig out = bind(tree, "changed keys");
    validate(out);
    return out;
  }

  /** Reads a resolved config from its YAML text (a worker's plan). */
  public static TrainConfig parse(String yaml) {
    try {
      TrainConfig c = bind(YAML.readTree(yaml), "the plan's config");
      validate(c);
      return c;
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("the plan's config is not YAML: " + e.getOriginalMessage(), e);
    }
  }

  private static ObjectNode readFile(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("config file " + file + " does not exist");
    }
    try {
      JsonNode n = YAML.readTree(file.toFile());
      if (n == null || n.isMissingNode() || n.isNull()) {
        return YAML.createObjectNode();
      }
      if (!n.isObject()) {
        throw new IllegalArgumentException("config file " + file + " must be a mapping of keys to values");
      }
      return (ObjectNode) n;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read config file " + file + ": " + e.getMessage(), e);
    }
  }

  private static void merge(ObjectNode into, JsonNode from, String where) {
    Iterator<Map.Entry<String, JsonNode>> it = from.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!into.has(e.getKey())) {
        throw new IllegalArgumentException(where + ": unknown key '" + e.getKey() + "' (see tessera train --help)");
      }
      if (!e.getValue().isNull()) {
        into.set(e.getKey(), e.getValue());
      }
    }
  }

  private static TrainConfig bind(JsonNode tree, String where) {
    try {
      return YAML.treeToValue(tree, TrainConfig.class);
    } catch (UnrecognizedPropertyException e) {
      throw new IllegalArgumentException(where + ": unknown key '" + e.getPropertyName() + "'", e);
    } catch (InvalidFormatException e) {
      throw new IllegalArgumentException(where + ": " + key(e) + ": '" + e.getValue() + "' is not a valid "
          + e.getTargetType().getSimpleName().toLowerCase(), e);
    } catch (MismatchedInputException e) {
      throw new IllegalArgumentException(where + ": " + key(e) + " has the wrong type (expected "
          + e.getTargetType().getSimpleName().toLowerCase() + ")", e);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(where + ": " + e.getOriginalMessage(), e);
    }
  }

  private static String key(MismatchedInputException e) {
    return e.getPath().isEmpty() ? "value" : e.getPath().get(e.getPath().size() - 1).getFieldName();
  }

  public static String toYaml(TrainConfig c) {
    try {
      return YAML.writeValueAsString(c);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** Checks ranges and combinations; every message names the key. */
  static void validate(TrainConfig c) {
    check(c.steps() >= 1, "steps must be at least 1, got " + c.steps());
    check(c.devices().stream().allMatch(d -> d != null && d >= 0), "devices must be device numbers from 0, got "
        + c.devices());
    check(c.devices().isEmpty() || !List.of("java", "reference").contains(c.device().trim().toLowerCase(Locale.ROOT)),
        "devices picks OpenCL devices; device '" + c.device() + "' has none");
    check(c.batchSize() >= 1, "batch-size must be at least 1, got " + c.batchSize());
    check(c.gradAccum() >= 1, "grad-accum must be at least 1, got " + c.gradAccum());
    check(c.evalEvery() >= 0, "eval-every must be 0 (only at the end) or positive, got " + c.evalEvery());
    check(c.evalBatches() >= 1, "eval-batches must be at least 1, got " + c.evalBatches());
    check(c.checkpointEvery() >= 0, "checkpoint-every must be 0 (only at the end) or positive, got "
        + c.checkpointEvery());
    check(c.logEvery() >= 1, "log-every must be at least 1, got " + c.logEvery());
    check(c.gradClip() >= 0, "grad-clip must be 0 (off) or positive, got " + c.gradClip());
    check(c.beta1() >= 0 && c.beta1() < 1 && c.beta2() >= 0 && c.beta2() < 1, "beta1 and beta2 must be in [0, 1)");
    check(c.weightDecay() >= 0, "weight-decay must not be negative, got " + c.weightDecay());
    check(c.tokenizer().equals("char") || c.tokenizer().equals("byte"),
        "tokenizer: unknown value '" + c.tokenizer() + "'; expected one of char, byte");
    schedule(c);
    GptConfig model = gpt(c, c.isBuiltin() ? c.markovAlphabet() : 2);
    check(c.dp() >= 1 && c.tp() >= 1, "dp and tp must be at least 1, got dp=" + c.dp() + " tp=" + c.tp());
    check(c.dpBucketMb() >= 0 && Float.isFinite(c.dpBucketMb()), "dp-bucket-mb must be 0 or more MB, got "
        + c.dpBucketMb());
    check(c.dpExactSteps() >= 0, "dp-exact-steps must not be negative, got " + c.dpExactSteps());
    check(!c.sequenceParallel() || c.tp() > 1, "sequence-parallel needs tp > 1 (it splits the tokens over tp)");
    check(!c.sequenceParallel() || c.batchSize() % c.dp() != 0 || (c.batchSize() / c.dp() * c.blockSize()) % c.tp() == 0,
        "sequence-parallel splits each worker's " + (c.batchSize() / Math.max(1, c.dp())) + " x " + c.blockSize()
            + " tokens over tp=" + c.tp() + ", which does not divide them; change batch-size or block-size");
    check(c.dpCompress().equals("grads") || c.dpCompress().equals("momentum"),
        "dp-compress: unknown value '" + c.dpCompress() + "'; expected grads or momentum");
    check(!c.dpCompress().equals("momentum") || c.dpExactSteps() >= 1,
        "dp-compress momentum (1-bit Adam) needs dp-exact-steps of at least 1: the exact warm-up sets the variance "
            + "it then freezes");
    try {
      dev.tessera.comm.Codecs.byName(c.dpCodec());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("dp-codec: " + e.getMessage(), e);
    }
    if (c.workers() > 1) {
      dev.tessera.parallelism.ParallelDims.of(c.dp(), 1, c.tp(), 1, 1, c.workers(), model);
      check(c.batchSize() % c.dp() == 0, "batch-size " + c.batchSize() + " does not split over dp=" + c.dp()
          + "; batch options mean the global batch: use a multiple of " + c.dp());
    }
  }

  static LrSchedule schedule(TrainConfig c) {
    int decay = c.lrDecaySteps() == 0 ? c.steps() : c.lrDecaySteps();
    return new LrSchedule(c.learningRate(), c.minLr(), Math.min(c.warmupSteps(), decay), decay);
  }

  /** The model shape for a vocabulary. */
  public static GptConfig gpt(TrainConfig c, int vocab) {
    return new GptConfig(vocab, c.blockSize(), c.nLayer(), c.nHead(), c.nEmbd(), c.bias(),
        GptConfig.parse(GptConfig.Norm.class, c.norm(), "norm"), GptConfig.parse(GptConfig.Mlp.class, c.mlp(), "mlp"),
        GptConfig.parse(GptConfig.Positions.class, c.positions(), "positions"), c.mlpHidden(), c.ropeBase());
  }

  public static Trainer.Options trainerOptions(TrainConfig c) {
    return new Trainer.Options(c.batchSize(), c.blockSize(), c.gradAccum(), c.gradClip(), schedule(c), c.beta1(),
        c.beta2(), c.eps(), c.weightDecay(), c.seed(), c.evalBatches());
  }
}
