package dev.tessera.worker;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.GptConfig;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.io.Hashes;
import dev.tessera.model.io.Safetensors;
import dev.tessera.model.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Checkpoints of a run: {@code checkpoints/step-N/} with one safetensors file per rank that holds
 * distinct state ({@code rank-R.safetensors}: the rank's parameters and AdamW moments, as sliced
 * under tensor parallelism; data-parallel replicas hold the same and write nothing) and
 * {@code manifest.json} (format version, step, data position, tokenizer, model config, mesh, the
 * files in tp order and the SHA-256 of each). Every rank writes its own file into
 * {@code step-N.tmp}; rank 0 then writes the manifest and renames the directory, so a crash leaves
 * the whole checkpoint or none. Loading verifies every hash and joins the slices into whole tensors,
 * from which every rank of any mesh takes its own part. A corrupt or partial checkpoint is reported
 * and the previous good one used. Version 1 and 2 checkpoints (the whole model in
 * {@code model.safetensors} and {@code optimizer.safetensors}) still load.
 */
public final class Checkpoints {
  public static final String FORMAT = "tessera-checkpoint";
  /** 3: one file per rank; 2 added the model config and the mesh; 1 is the first. */
  public static final int VERSION = 3;
  public static final String MANIFEST = "manifest.json";
  /** The whole-model files of versions 1 and 2. */
  static final String MODEL = "model.safetensors";
  static final String OPTIMIZER = "optimizer.safetensors";
  /** Metadata key of a rank file: how each sliced tensor was cut from the whole (JSON). */
  private static final String SLICINGS = "slicings";

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private Checkpoints() {
  }

  /**
   * What manifest.json holds: the format and its version, the step, the data generator's state (the
   * only randomness after initialisation), the tokenizer, the model's config, the mesh that wrote it
   * (any mesh reads it), the rank files in tp order (empty before version 3), and every file's SHA-256.
   */
  public record Manifest(String format, int version, int step, long dataRngState, List<String> tokenizer,
      GptConfig model, Map<String, Integer> mesh, List<String> files, Map<String, String> sha256) {
  }

  /** A verified checkpoint on disk. */
  public record Checkpoint(Path dir, Manifest manifest) {
  }

  public static Path dir(Path run) {
    return run.resolve("checkpoints");
  }

  /** The directory a checkpoint of step {@code step} is written into before it is complete. */
  static Path tmpDir(Path run, int step) {
    return dir(run).resolve("step-" + step + ".tmp");
  }

  /** The file of rank {@code rank} in a checkpoint directory. */
  public static String rankFile(int rank) {
    return "rank-" + rank + ".safetensors";
  }

  /** Starts a checkpoint of step {@code step}: an empty {@code step-N.tmp} (rank 0, before any rank writes). */
  static Path begin(Path run, int step) throws IOException {
    Path tmp = tmpDir(run, step);
    deleteTree(tmp);
    Files.createDirectories(tmp);
    return tmp;
  }

  /**
   * Writes this rank's state into the checkpoint being made: every parameter this worker holds and
   * both moments of each, with how the sliced ones were cut from the whole.
   */
  static void writeRank(Path tmp, int rank, int step, Trainer trainer) throws IOException {
    Params params = trainer.model().params();
    Map<String, Safetensors.Entry> tensors = new LinkedHashMap<>();
    Map<String, Params.Slicing> slicings = new LinkedHashMap<>();
    for (Param p : params.all()) {
      tensors.put(p.name(), entry(params, p.value()));
      tensors.put("m." + p.name(), entry(params, trainer.optimizer().firstMoments().get(p.name())));
      tensors.put("v." + p.name(), entry(params, trainer.optimizer().secondMoments().get(p.name())));
      params.slicing(p.name()).ifPresent(s -> slicings.put(p.name(), s));
    }
    Map<String, String> meta = new LinkedHashMap<>(); // ordered: the same state gives the same bytes
    meta.put("format", FORMAT);
    meta.put("version", Integer.toString(VERSION));
    meta.put("step", Integer.toString(step));
    meta.put("rank", Integer.toString(rank));
    meta.put(SLICINGS, JSON.writeValueAsString(slicings));
    Safetensors.write(tmp.resolve(rankFile(rank)), tensors, meta);
  }

  private static Safetensors.Entry entry(Params params, Tensor t) {
    return new Safetensors.Entry(t.shape().toArray(), params.backend().read(t));
  }

  /**
   * Completes the checkpoint (rank 0, once every rank of {@code ranks}, in tp order, has written its
   * file): hashes the files, writes the manifest and renames {@code step-N.tmp} to {@code step-N}.
   */
  static Path commit(Path run, Trainer trainer, List<String> tokenizer, Map<String, Integer> mesh, List<Integer> ranks)
      throws IOException {
    int step = trainer.stepsDone();
    Path tmp = tmpDir(run, step);
    Faults.at(Faults.IN_CHECKPOINT, step);
    List<String> files = new ArrayList<>();
    Map<String, String> hashes = new LinkedHashMap<>();
    for (int r : ranks) {
      String f = rankFile(r);
      if (!Files.isRegularFile(tmp.resolve(f))) {
        throw new IOException("checkpoint of step " + step + ": rank " + r + " wrote no " + f + " in " + tmp);
      }
      files.add(f);
      hashes.put(f, sha256(tmp.resolve(f)));
    }
    Manifest m = new Manifest(FORMAT, VERSION, step, trainer.dataRngState(), tokenizer, trainer.model().config(),
        mesh, files, hashes);
    JSON.writeValue(tmp.resolve(MANIFEST).toFile(), m);
    Path done = dir(run).resolve("step-" + step);
    if (Files.exists(done)) {
      Path old = dir(run).resolve("step-" + step + ".old");
      deleteTree(old);
      Files.move(done, old, StandardCopyOption.ATOMIC_MOVE);
      Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
      deleteTree(old);
    } else {
      Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
    }
    return done;
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
          + " versions 1 to " + VERSION + ")");
    }
    List<String> needed = m.version() >= 3 ? m.files() : List.of(MODEL, OPTIMIZER);
    if (needed == null || needed.isEmpty() || m.sha256() == null || !m.sha256().keySet().containsAll(needed)) {
      throw new IOException(MANIFEST + " lists no hash for some of " + needed);
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

  /**
   * The whole model's tensors of a verified checkpoint, by name (parameters, and with
   * {@code moments} the {@code m.} and {@code v.} ones too): under tensor parallelism the ranks'
   * slices joined, so the same tensors whatever mesh wrote them.
   */
  public static Map<String, Safetensors.Entry> wholeTensors(Checkpoint c, boolean moments) throws IOException {
    Map<String, Safetensors.Entry> out = new LinkedHashMap<>();
    if (c.manifest().version() < 3) {
      out.putAll(Safetensors.read(c.dir().resolve(MODEL)));
      if (moments) {
        out.putAll(Safetensors.read(c.dir().resolve(OPTIMIZER)));
      }
      return out;
    }
    List<Map<String, Safetensors.Entry>> parts = new ArrayList<>();
    Map<String, Params.Slicing> slicings = null;
    for (String f : c.manifest().files()) {
      Path file = c.dir().resolve(f);
      parts.add(Safetensors.read(file));
      if (slicings == null) {
        slicings = JSON.readValue(Safetensors.metadata(file).getOrDefault(SLICINGS, "{}"),
            new TypeReference<LinkedHashMap<String, Params.Slicing>>() { });
      }
    }
    for (String name : parts.get(0).keySet()) {
      boolean moment = name.startsWith("m.") || name.startsWith("v.");
      if (moment && !moments) {
        continue;
      }
      Params.Slicing s = slicings.get(moment ? name.substring(2) : name);
      if (s == null) {
        out.put(name, parts.get(0).get(name));
        continue;
      }
      if (s.parts() != parts.size()) {
        throw new IOException(c.dir() + ": '" + name + "' is cut in " + s.parts() + " parts but there are "
            + parts.size() + " rank files");
      }
      int each = parts.get(0).get(name).data().length;
      float[] joined = new float[each * parts.size()];
      for (int q = 0; q < parts.size(); q++) {
        Safetensors.Entry e = parts.get(q).get(name);
        if (e == null || e.data().length != each) {
          throw new IOException(c.dir() + ": " + c.manifest().files().get(q) + " lacks '" + name + "' or holds it "
              + "in another size");
        }
        System.arraycopy(e.data(), 0, joined, q * each, each);
      }
      out.put(name, new Safetensors.Entry(s.wholeDims(), s.join(joined)));
    }
    return out;
  }

  /** Loads a verified checkpoint into the trainer (same model shape, any mesh). */
  public static void restore(Checkpoint c, Trainer trainer) throws IOException {
    Map<String, Safetensors.Entry> whole = wholeTensors(c, true);
    Params params = trainer.model().params();
    for (Param p : params.all()) {
      load(params, p, p.value(), whole.get(p.name()), c, p.name());
      load(params, p, trainer.optimizer().firstMoments().get(p.name()), whole.get("m." + p.name()), c,
          "m." + p.name());
      load(params, p, trainer.optimizer().secondMoments().get(p.name()), whole.get("v." + p.name()), c,
          "v." + p.name());
    }
    trainer.restore(c.manifest().step(), c.manifest().dataRngState());
  }

  /**
   * Writes the model of the run's newest good checkpoint to one safetensors file: the tensors under
   * their documented names (docs/training.md), fp32, PyTorch's [out, in] layout, the same whatever
   * mesh trained the run, and metadata naming the format, the step, the model config and the
   * tokenizer. Written under a temporary name and renamed; an existing file is refused.
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
    Map<String, Safetensors.Entry> model = wholeTensors(c, false);
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "tessera-model");
    meta.put("step", Integer.toString(c.manifest().step()));
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
    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
    return c.manifest().step();
  }

  /** Loads only the parameters (for sampling). */
  public static void loadParams(Checkpoint c, Params params) throws IOException {
    Map<String, Safetensors.Entry> model = wholeTensors(c, false);
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
    return Hashes.sha256(file);
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
