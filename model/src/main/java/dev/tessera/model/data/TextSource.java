package dev.tessera.model.data;

import dev.tessera.model.Rng;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Text from a file or a directory of files (read in name order, concatenated), tokenised once;
 * the first part is for training, the rest for validation (in file order, as nanoGPT does).
 * Training windows start anywhere at random; validation windows are fixed by their index.
 */
public final class TextSource implements DataSource {
  static final long VALIDATION_SEED = 0x7E55E7A1L;

  private final Tokenizer tokenizer;
  private final int[] train;
  private final int[] val;
  private final String description;

  private TextSource(Tokenizer tokenizer, int[] tokens, double valFraction, String description) {
    this.tokenizer = tokenizer;
    int split = (int) (tokens.length * (1 - valFraction));
    this.train = java.util.Arrays.copyOfRange(tokens, 0, split);
    this.val = java.util.Arrays.copyOfRange(tokens, split, tokens.length);
    this.description = description;
  }

  /**
   * Reads and tokenises {@code path}. {@code tokenizer} is "char" or "byte"; {@code block} is
   * checked against the data so a run fails before it starts, not after.
   */
  public static TextSource load(Path path, String tokenizer, double valFraction, int block) {
    if (valFraction <= 0 || valFraction >= 1) {
      throw new IllegalArgumentException("val-fraction must be between 0 and 1 (exclusive), got " + valFraction);
    }
    List<Path> files = files(path);
    StringBuilder text = new StringBuilder();
    List<byte[]> raw = new ArrayList<>();
    long bytes = 0;
    for (Path f : files) {
      byte[] b;
      try {
        b = Files.readAllBytes(f);
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot read " + f + ": " + e.getMessage(), e);
      }
      bytes += b.length;
      raw.add(b);
      if (tokenizer.equals("char")) {
        text.append(decodeStrictly(f, b));
      }
    }
    if (bytes == 0) {
      throw new IllegalArgumentException("no text in " + path + " (" + files.size() + " file(s), all empty)");
    }
    Tokenizer tok;
    int[] tokens;
    if (tokenizer.equals("char")) {
      tok = CharTokenizer.fromCorpus(text.toString());
      tokens = tok.encode(text.toString());
    } else if (tokenizer.equals("byte")) {
      tok = new ByteTokenizer();
      byte[] all = new byte[(int) bytes];
      int at = 0;
      for (byte[] b : raw) {
        System.arraycopy(b, 0, all, at, b.length);
        at += b.length;
      }
      tokens = ByteTokenizer.encodeBytes(all);
    } else {
      throw new IllegalArgumentException("tokenizer: unknown value '" + tokenizer + "'; expected one of char, byte");
    }
    TextSource s = new TextSource(tok, tokens, valFraction, path + " (" + files.size() + " file(s), " + tokens.length
        + " tokens, vocabulary " + tok.vocabSize() + ")");
    int shortest = Math.min(s.train.length, s.val.length);
    if (shortest <= block + 1) {
      throw new IllegalArgumentException("block-size " + block + " is longer than the data allows: the "
          + (s.train.length <= s.val.length ? "training" : "validation") + " part of " + path + " has only "
          + shortest + " tokens; use a smaller block-size or more text");
    }
    return s;
  }

  private static List<Path> files(Path path) {
    if (!Files.exists(path)) {
      throw new IllegalArgumentException("data path " + path + " does not exist");
    }
    if (Files.isRegularFile(path)) {
      return List.of(path);
    }
    try (Stream<Path> s = Files.walk(path)) {
      List<Path> files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
          .sorted().toList();
      if (files.isEmpty()) {
        throw new IllegalArgumentException("data directory " + path + " holds no files");
      }
      return files;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot list " + path + ": " + e.getMessage(), e);
    }
  }

  private static String decodeStrictly(Path file, byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(file + " is not valid UTF-8 text (" + e.getMessage()
          + "); the char tokenizer needs UTF-8: convert the file or use --tokenizer byte", e);
    }
  }

  @Override
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  private static Batch windows(int[] tokens, Rng rng, int batch, int block) {
    int[] ids = new int[batch * block];
    int[] targets = new int[batch * block];
    for (int b = 0; b < batch; b++) {
      int start = rng.nextInt(tokens.length - block - 1);
      System.arraycopy(tokens, start, ids, b * block, block);
      System.arraycopy(tokens, start + 1, targets, b * block, block);
    }
    return new Batch(batch, block, ids, targets);
  }

  @Override
  public Batch train(Rng rng, int batch, int block) {
    return windows(train, rng, batch, block);
  }

  @Override
  public Batch validation(int index, int batch, int block) {
    return windows(val, Rng.derive(VALIDATION_SEED, "val-" + index), batch, block);
  }

  @Override
  public String describe() {
    return description;
  }
}
