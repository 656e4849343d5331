package dev.tessera.model.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.Rng;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token shards of a text train on the same batches as the text itself; broken shards are named. */
class ShardSourceTest {
  @TempDir
  Path dir;

  /** Shards the text's tokens in 4 files (one empty), split by the index as TextSource splits the text. */
  private Path shard(String text, int width) throws Exception {
    Tokenizer tok = CharTokenizer.fromCorpus(text);
    int[] tokens = tok.encode(text);
    Path out = dir.resolve("shards-" + width);
    Files.createDirectories(out);
    int[][] parts = {Arrays.copyOfRange(tokens, 0, 100), new int[0], Arrays.copyOfRange(tokens, 100, 1000),
        Arrays.copyOfRange(tokens, 1000, tokens.length)};
    List<TokenShards.ShardFile> files = new ArrayList<>();
    for (int i = 0; i < parts.length; i++) {
      String name = "part-" + i + ".bin";
      try (OutputStream os = Files.newOutputStream(out.resolve(name))) {
        TokenShards.Writer w = new TokenShards.Writer(os, name, width);
        w.append(parts[i]);
        files.add(w.finish());
      }
    }
    Files.write(out.resolve(TokenShards.INDEX), TokenShards.indexBytes(TokenShards.split(tok.spec(), width, 1,
        "a test", files, 0.1)));
    return out;
  }

  @Test
  void shardsOfATextDrawTheSameBatchesAsTheText() throws Exception {
    String text = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. ".repeat(30);
    Path file = dir.resolve("t.txt");
    Files.writeString(file, text, StandardCharsets.UTF_8);
    TextSource want = TextSource.load(file, "char", 0.1, 16);
    for (int width : new int[] {2, 4}) {
      ShardSource got = ShardSource.load(shard(text, width), 16);
      Rng a = new Rng(7);
      Rng b = new Rng(7);
      for (int i = 0; i < 5; i++) {
        Batch x = want.train(a, 8, 16);
        Batch y = got.train(b, 8, 16);
        assertArrayEquals(x.ids(), y.ids(), "train batch " + i);
        assertArrayEquals(x.targets(), y.targets(), "train batch " + i);
        assertArrayEquals(want.validation(i, 8, 16).ids(), got.validation(i, 8, 16).ids(), "validation " + i);
      }
      assertTrue(got.describe().contains("4 token shards"), got.describe());
    }
  }

  @Test
  void aTruncatedOrCorruptShardIsAnErrorNamingIt() throws Exception {
    String text = "abcdefghij".repeat(150);
    Path out = shard(text, 2);
    Path f = out.resolve("part-2.bin");
    byte[] bytes = Files.readAllBytes(f);
    Files.write(f, Arrays.copyOf(bytes, bytes.length - 5));
    String e = assertThrows(IllegalArgumentException.class, () -> ShardSource.load(out, 8)).getMessage();
    assertTrue(e.contains("part-2.bin") && e.contains("truncated"), e);
    bytes[20] ^= 1;
    Files.write(f, bytes);
    e = assertThrows(IllegalArgumentException.class, () -> ShardSource.load(out, 8)).getMessage();
    assertTrue(e.contains("part-2.bin") && e.contains("SHA-256"), e);
  }
}
