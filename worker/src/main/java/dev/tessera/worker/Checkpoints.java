package dev.tessera.worker;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.io.Safetensors;
import dev.tessera.model.train.Trainer;
import dev.tessera.parallelism.Axis;
import dev.tessera.parallelism.ParallelDims;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Checkpoints of a run: {@code checkpoints/step-N/} with {@code model.safetensors} (parameters),
 * {@code optimizer.safetensors} (AdamW moments) and {@code manifest.json} (format version, step,
 * data position, tokenizer, SHA-256 of each file). Written under {@code step-N.tmp} and renamed, so
 * a crash leaves either the whole checkpoint or none. Loading verifies every hash; a corrupt or
 * partial checkpoint is reported and the previous good one used.
 */
public final class Checkpoints {
  public static final String FORMAT = "tessera-checkpoint";
  /** 2 added the model config and the mesh to the manifest; version 1 checkpoints still load. */
  public static final int VERSION = 2;
  public static final String MODEL = "model.safetensors";
  public static final String OPTIMIZER = "optimizer.safetensors";
  public static final String MANIFEST = "manifest.json";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private Checkpoints() {
  }

  /**
   * What manifest.json holds: the format and its version, the step, the data generator's state (the
   * only randomness after initialisation), the tokenizer, the model's config, the mesh that wrote it
   * (any mesh reads it: the files hold the whole model), and every file's SHA-256.
   */
  public record Manifest(String format, int version, int step, long dataRngState, List<String> tokenizer,
      GptConfig model, Map<String, Integer> mesh, Map<String, String> sha256) {
  }

  /** A verified checkpoint on disk. */
  public record Checkpoint(Path dir, Manifest manifest) {
  }

  public static Path dir(Path run) {
    return run.resolve("checkpoints");
  }

  /**
   * A parameter-shaped tensor (the parameter, or a moment of it) as the whole model's tensor: the
   * tensor itself on one worker; under tensor parallelism, the slices of every worker joined.
   */
  public interface Whole {
    Safetensors.Entry of(Param p, Tensor t);
  }

  /** The tensors as they are (one worker holds the whole model). */
  public static Whole local(Backend be) {
    return (p, t) -> entry(be, t);
  }

  /**
   * Every tensor a checkpoint holds, as {@code whole} gives it, in one fixed order: the parameters,
   * then each one's moments. Workers that gather their slices for another's checkpoint call this too.
   */
  public static void forEachTensor(Trainer trainer, Whole whole, java.util.function.BiConsumer<String,
      Safetensors.Entry> out) {
    for (Param p : trainer.model().params().all()) {
      out.accept(p.name(), whole.of(p, p.value()));
      out.accept("m." + p.name(), whole.of(p, trainer.optimizer().firstMoments().get(p.name())));
      out.accept("v." + p.name(), whole.of(p, trainer.optimizer().secondMoments().get(p.name())));
    }
  }

  /**
   * Writes the whole model's state after {@code trainer.stepsDone()} steps, the tensors as {@code whole}
   * gives them: the same files whatever layout trained the run.
   */
  public static Path write(Path run, Trainer trainer, List<String> tokenizer, Whole whole, ParallelDims mesh)
      throws IOException {
    int step = trainer.stepsDone();
    Path root = dir(run);
    Files.createDirectories(root);
    Path tmp = root.resolve("step-" + step + ".tmp");
    Path done = root.resolve("step-" + step);
    deleteTree(tmp);
    Files.createDirectories(tmp);
    Map<String, Safetensors.Entry> model = new LinkedHashMap<>();
    Map<String, Safetensors.Entry> moments = new LinkedHashMap<>();
    forEachTensor(trainer, whole, (name, e) -> (name.startsWith("m.") || name.startsWith("v.") ? moments : model)
        .put(name, e));
    Map<String, String> meta = new LinkedHashMap<>(); // ordered: the same state gives the same bytes
    meta.put("format", FORMAT);
    meta.put("version", Integer.toString(VERSION));
    meta.put("step", Integer.toString(step));
    Safetensors.write(tmp.resolve(MODEL), model, meta);
    Faults.at(Faults.IN_CHECKPOINT, step);
    Safetensors.write(tmp.resolve(OPTIMIZER), moments, meta);
    Map<String, String> hashes = new LinkedHashMap<>();
    hashes.put(MODEL, sha256(tmp.resolve(MODEL)));
    hashes.put(OPTIMIZER, sha256(tmp.resolve(OPTIMIZER)));
    Map<String, Integer> layout = new LinkedHashMap<>();
    for (Axis a : Axis.values()) {
      layout.put(a.name().toLowerCase(java.util.Locale.ROOT), mesh.size(a));
    }
    Manifest m = new Manifest(FORMAT, VERSION, step, trainer.dataRngState(), tokenizer, trainer.model().config(),
        layout, hashes);
    JSON.writeValue(tmp.resolve(MANIFEST).toFile(), m);
    if (Files.exists(done)) {
      Path old = root.resolve("step-" + step + ".old");
      deleteTree(old);
      Files.move(done, old, StandardCopyOption.ATOMIC_MOVE);
      Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
      deleteTree(old);
    } else {
      Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
    }
    return done;
  }

  private static Safetensors.Entry entry(Backend be, Tensor t) {
    return new Safetensors.Entry(t.shape().toArray(), be.read(t));
  }

  /** The newest checkpoint whose manifest and hashes check out; each bad one is reported to {@code warn}. */
  public static Optional<Checkpoint> latest(Path run, Consumer<String> warn) {
    Path root = dir(run);
    if (!Files.isDirectory(root)) {
      return Optional.empty();
    }
    List<Path> dirs = new ArrayList<>();
    try (Stream<Path> s = Files.list(root)) {
      s.filter(p -> p.getFileName().toString().matches("step-\\d+")).forEach(dirs::add);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot list " + root + ": " + e.getMessage(), e);
    }
    dirs.sort(Comparator.comparingInt(Checkpoints::stepOf).reversed());
    for (Path d : dirs) {
      try {
        return Optional.of(verify(d));
      } catch (IOException | RuntimeException e) {
        warn.accept("checkpoint " + d + " is unusable (" + e.getMessage() + "); trying an older one");
      }
    }
    return Optional.empty();
  }

  private static int stepOf(Path p) {
    return Integer.parseInt(p.getFileName().toString().substring("step-".length()));
  }

  /** Reads the manifest and checks the format, the version and every file's SHA-256. */
  public static Checkpoint verify(Path dir) throws IOException {
    Path mf = dir.resolve(MANIFEST);
    if (!Files.isRegularFile(mf)) {
      throw new IOException("no " + MANIFEST);
    }
    Manifest m;
    try {
      m = JSON.readValue(mf.toFile(), Manifest.class);
    } catch (IOException e) {
      throw new IOException(MANIFEST + " is not readable: " + e.getMessage(), e);
    }
    if (!FORMAT.equals(m.format()) || m.version() < 1 || m.version() > VERSION) {
      throw new IOException("format " + m.format() + " version " + m.version() + " (this Tessera reads " + FORMAT
          + " version " + VERSION + ")");
    }
    if (m.sha256() == null || !m.sha256().containsKey(MODEL) || !m.sha256().containsKey(OPTIMIZER)) {
      throw new IOException(MANIFEST + " lists no hash for " + MODEL + " and " + OPTIMIZER);
    }
    for (Map.Entry<String, String> e : m.sha256().entrySet()) {
      Path f = dir.resolve(e.getKey());
      if (!Files.isRegularFile(f)) {
        throw new IOException(e.getKey() + " is missing");
      }
      String actual = sha256(f);
      if (!actual.equals(e.getValue())) {
        throw new IOException(e.getKey() + " has SHA-256 " + actual + ", the manifest says " + e.getValue());
      }
    }
    return new Checkpoint(dir, m);
  }

  /** Loads a verified checkpoint into the trainer (same model shape required). */
  public static void restore(Checkpoint c, Trainer trainer) throws IOException {
    Map<String, Safetensors.Entry> model = Safetensors.read(c.dir().resolve(MODEL));
    Map<String, Safetensors.Entry> moments = Safetensors.read(c.dir().resolve(OPTIMIZER));
    Params params = trainer.model().params();
    for (Param p : params.all()) {
      load(params, p, p.value(), model.get(p.name()), c, p.name());
      load(params, p, trainer.optimizer().firstMoments().get(p.name()), moments.get("m." + p.name()), c,
          "m." + p.name());
      load(params, p, trainer.optimizer().secondMoments().get(p.name()), moments.get("v." + p.name()), c,
          "v." + p.name());
    }
    trainer.restore(c.manifest().step(), c.manifest().dataRngState());
  }

  /**
   * Writes the model of the run's newest good checkpoint to one safetensors file: the tensors under
   * their documented names (docs/training.md), fp32, PyTorch's [out, in] layout, and metadata naming
   * the format, the step, the model config and the tokenizer. Written under a temporary name and
   * renamed; an existing file is refused.
   *
   * @return the step exported
   */
  public static int export(Path run, Path out, Consumer<String> warn) throws IOException {
    if (!Files.isDirectory(run)) {
      throw new IllegalArgumentException(run + " is not a run directory");
    }
    if (Files.exists(out)) {
      throw new IllegalArgumentException(out + " exists; remove it or choose another --out");
    }
    Checkpoint c = latest(run, warn).orElseThrow(() -> new IllegalArgumentException("no usable checkpoint in "
        + dir(run) + " to export"));
    Map<String, Safetensors.Entry> model = Safetensors.read(c.dir().resolve(MODEL));
    Map<String, String> meta = new java.util.LinkedHashMap<>();
    meta.put("format", "tessera-model");
    meta.put("step", Integer.toString(c.manifest().step()));
    meta.put("checkpoint_sha256", c.manifest().sha256().get(MODEL));
    Path config = run.resolve("config.yaml");
    if (Files.isRegularFile(config)) {
      meta.put("config_yaml", Files.readString(config));
    }
    if (c.manifest().tokenizer() != null) {
      meta.put("tokenizer_json", JSON.writeValueAsString(c.manifest().tokenizer()));
    }
    Path parent = out.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = parent.resolve(out.getFileName() + ".tmp");
    Safetensors.write(tmp, model, meta);
    Files.move(tmp, out, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return c.manifest().step();
  }

  /** Loads only the parameters (for sampling). */
  public static void loadParams(Checkpoint c, Params params) throws IOException {
    Map<String, Safetensors.Entry> model = Safetensors.read(c.dir().resolve(MODEL));
    for (Param p : params.all()) {
      load(params, p, p.value(), model.get(p.name()), c, p.name());
    }
  }

  /** Loads this worker's part of a checkpointed whole tensor (any layout wrote it). */
  private static void load(Params params, Param p, Tensor into, Safetensors.Entry e, Checkpoint c, String name)
      throws IOException {
    if (e == null) {
      throw new IOException(c.dir() + ": no tensor '" + name + "' (was it written by another model shape?)");
    }
    try {
      params.backend().write(into, params.shardOf(p, e.data(), e.shape()));
    } catch (IllegalArgumentException bad) {
      throw new IOException(c.dir() + ": tensor '" + name + "': " + bad.getMessage(), bad);
    }
  }

  public static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  public static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }
}
