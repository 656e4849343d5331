package dev.tessera.model.data;

import dev.tessera.model.Rng;
import dev.tessera.model.io.Hashes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Training data from a directory of {@link TokenShards} (what {@code tessera-spark shard} writes): the
 * training shards concatenated are the training tokens, the validation shards the validation ones,
 * and windows are drawn exactly as {@link TextSource} draws them, so a corpus sharded by Spark trains
 * as the same text read directly would. Shards are memory-mapped; every rank maps them all and reads
 * only the windows of its rows. Loading checks the index, every shard's header, footer, size and
 * SHA-256: a truncated or corrupt shard is an error naming it.
 */
public final class ShardSource implements DataSource {
  private final Tokenizer tokenizer;
  private final Tokens train;
  private final Tokens val;
  private final String description;

  /** Tokens of several shards as one sequence. */
  private static final class Tokens {
    private final ByteBuffer[] maps;
    private final long[] starts; // first token of each shard; starts[n] = total
    private final int width;

    Tokens(ByteBuffer[] maps, long[] counts, int width) {
      this.maps = maps;
      this.width = width;
      this.starts = new long[counts.length + 1];
      for (int i = 0; i < counts.length; i++) {
        starts[i + 1] = starts[i] + counts[i];
      }
    }

    long size() {
      return starts[starts.length - 1];
    }

    int get(long i) {
      int s = java.util.Arrays.binarySearch(starts, i);
      s = s >= 0 ? s : -s - 2;
      while (starts[s + 1] == i) { // skip empty shards
        s++;
      }
      int at = TokenShards.HEADER + (int) (i - starts[s]) * width;
      return width == 2 ? Short.toUnsignedInt(maps[s].getShort(at)) : maps[s].getInt(at);
    }
  }

  private ShardSource(Tokenizer tokenizer, Tokens train, Tokens val, String description) {
    this.tokenizer = tokenizer;
    this.train = train;
    this.val = val;
    this.description = description;
  }

  /** Whether {@code dir} holds token shards (an index). */
  public static boolean isShardDirectory(Path dir) {
    return Files.isRegularFile(dir.resolve(TokenShards.INDEX));
  }

  /** Opens and verifies the shards of {@code dir}; {@code block} is checked against the data. */
  public static ShardSource load(Path dir, int block) {
    Path indexFile = dir.resolve(TokenShards.INDEX);
    TokenShards.Index index;
    try {
      index = TokenShards.JSON.readValue(indexFile.toFile(), TokenShards.Index.class);
    } catch (IOException e) {
      throw new IllegalArgumentException(indexFile + " is not a token-shard index: " + e.getMessage(), e);
    }
    if (!TokenShards.FORMAT.equals(index.format()) || index.version() != TokenShards.VERSION) {
      throw new IllegalArgumentException(indexFile + ": format " + index.format() + " version " + index.version()
          + "; this Tessera reads " + TokenShards.FORMAT + " version " + TokenShards.VERSION);
    }
    Tokenizer tok = Tokenizer.fromSpec(index.tokenizer());
    java.util.Map<String, ByteBuffer> maps = new java.util.HashMap<>();
    for (TokenShards.ShardFile f : index.files()) {
      maps.put(f.file(), map(dir.resolve(f.file()), f, index.bytesPerToken()));
    }
    Tokens train = tokens(dir, maps, index.train(), index.bytesPerToken());
    Tokens val = tokens(dir, maps, index.val(), index.bytesPerToken());
    if (train.size() > Integer.MAX_VALUE || val.size() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(dir + ": more than 2^31 tokens in one split is not supported yet");
    }
    long shortest = Math.min(train.size(), val.size());
    if (shortest <= block + 1) {
      throw new IllegalArgumentException("block-size " + block + " is longer than the data allows: the "
          + (train.size() <= val.size() ? "training" : "validation") + " shards of " + dir + " hold only " + shortest
          + " tokens; use a smaller block-size or more text");
    }
    return new ShardSource(tok, train, val, dir + " (" + index.files().size() + " token shards, " + train.size()
        + " training and " + val.size() + " validation tokens of " + index.documents() + " documents from "
        + index.source() + ", vocabulary " + tok.vocabSize() + ")");
  }

  private static Tokens tokens(Path dir, java.util.Map<String, ByteBuffer> maps, List<TokenShards.Range> ranges,
      int width) {
    ByteBuffer[] views = new ByteBuffer[ranges.size()];
    long[] counts = new long[ranges.size()];
    for (int i = 0; i < ranges.size(); i++) {
      TokenShards.Range r = ranges.get(i);
      ByteBuffer m = maps.get(r.file());
      long fileTokens = m == null ? -1 : (m.capacity() - TokenShards.HEADER - TokenShards.FOOTER) / width;
      if (m == null || r.offset() < 0 || r.tokens() < 0 || r.offset() + r.tokens() > fileTokens) {
        throw new IllegalArgumentException(dir.resolve(TokenShards.INDEX) + ": range " + r + " is not within a "
            + "listed file");
      }
      // A view whose token 0 is the range's first token, at the header's offset like a whole file.
      views[i] = m.duplicate().position((int) (r.offset() * width)).slice().order(ByteOrder.LITTLE_ENDIAN);
      counts[i] = r.tokens();
    }
    return new Tokens(views, counts, width);
  }

  private static ByteBuffer map(Path f, TokenShards.ShardFile s, int width) {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      long expected = TokenShards.HEADER + s.tokens() * width + TokenShards.FOOTER;
      if (ch.size() != expected) {
        throw new IllegalArgumentException("token shard " + f + " has " + ch.size() + " bytes; its index says "
            + s.tokens() + " tokens (" + expected + " bytes): truncated or not the shard indexed");
      }
      MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
      m.order(ByteOrder.LITTLE_ENDIAN);
      if (m.getInt(0) != TokenShards.MAGIC || m.getShort(4) != TokenShards.VERSION || m.getShort(6) != width
          || m.getLong((int) expected - TokenShards.FOOTER) != s.tokens()
          || m.getInt((int) expected - 4) != TokenShards.MAGIC) {
        throw new IllegalArgumentException("token shard " + f + " has a bad header or footer (not a version "
            + TokenShards.VERSION + " shard of " + width + "-byte tokens holding " + s.tokens() + ")");
      }
      String sha = Hashes.sha256(f);
      if (!sha.equals(s.sha256())) {
        throw new IllegalArgumentException("token shard " + f + " has SHA-256 " + sha + ", its index says "
            + s.sha256() + ": the file is corrupt");
      }
      return m;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read token shard " + f + ": " + e.getMessage(), e);
    }
  }

  private static Batch windows(Tokens tokens, Rng rng, int batch, int block) {
    int[] ids = new int[batch * block];
    int[] targets = new int[batch * block];
    for (int b = 0; b < batch; b++) {
      long start = rng.nextInt((int) tokens.size() - block - 1);
      for (int t = 0; t < block; t++) {
        ids[b * block + t] = tokens.get(start + t);
        targets[b * block + t] = tokens.get(start + t + 1);
      }
    }
    return new Batch(batch, block, ids, targets);
  }

  @Override
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  @Override
  public Batch train(Rng rng, int batch, int block) {
    return windows(train, rng, batch, block);
  }

  @Override
  public Batch validation(int index, int batch, int block) {
    return windows(val, Rng.derive(TextSource.VALIDATION_SEED, "val-" + index), batch, block);
  }

  @Override
  public String describe() {
    return description;
  }
}
