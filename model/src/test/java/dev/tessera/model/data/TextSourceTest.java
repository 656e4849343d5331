package dev.tessera.model.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.Rng;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextSourceTest {
  @TempDir
  Path dir;

  private static String message(Runnable r) {
    return assertThrows(IllegalArgumentException.class, r::run).getMessage();
  }

  @Test
  void charTokenizerRoundTripsAndWindowsAreNextTokenPairs() throws Exception {
    Path f = dir.resolve("a.txt");
    Files.writeString(f, "hello world, hello tessera! ".repeat(20), StandardCharsets.UTF_8);
    TextSource s = TextSource.load(f, "char", 0.1, 8);
    Tokenizer t = s.tokenizer();
    assertEquals("hello tessera", t.decode(t.encode("hello tessera")));
    Batch b = s.train(new Rng(1), 4, 8);
    for (int r = 0; r < 4; r++) {
      for (int i = 0; i + 1 < 8; i++) {
        assertEquals(b.ids()[r * 8 + i + 1], b.targets()[r * 8 + i], "targets are the next tokens");
      }
    }
    assertArrayEquals(s.validation(3, 4, 8).ids(), s.validation(3, 4, 8).ids(), "validation batches are fixed");
  }

  @Test
  void aDirectoryIsReadInNameOrder() throws Exception {
    Files.writeString(dir.resolve("b.txt"), "bbbb".repeat(30));
    Files.writeString(dir.resolve("a.txt"), "aaaa".repeat(30));
    TextSource s = TextSource.load(dir, "byte", 0.5, 4);
    assertTrue(s.describe().contains("2 file(s)"), s.describe());
    assertEquals('a', s.train(new Rng(0), 1, 4).ids()[0]);
  }

  @Test
  void badInputGetsAClearError() throws Exception {
    assertTrue(message(() -> TextSource.load(dir.resolve("missing.txt"), "char", 0.1, 8)).contains("does not exist"));
    Path empty = Files.createFile(dir.resolve("empty.txt"));
    assertTrue(message(() -> TextSource.load(empty, "char", 0.1, 8)).contains("no text"));
    Path latin1 = dir.resolve("latin1.txt");
    byte[] bytes = "caf\u00e9 ".repeat(50).getBytes(StandardCharsets.ISO_8859_1);
    Files.write(latin1, bytes);
    String m = message(() -> TextSource.load(latin1, "char", 0.1, 8));
    assertTrue(m.contains("not valid UTF-8") && m.contains("--tokenizer byte"), m);
    assertEquals(256, TextSource.load(latin1, "byte", 0.1, 8).tokenizer().vocabSize(), "bytes are fine as bytes");
    Path small = dir.resolve("small.txt");
    Files.writeString(small, "just a few words here");
    m = message(() -> TextSource.load(small, "char", 0.1, 64));
    assertTrue(m.contains("block-size 64") && m.contains("longer than the data"), m);
    Files.createDirectory(dir.resolve("nothing"));
    assertTrue(message(() -> TextSource.load(dir.resolve("nothing"), "char", 0.1, 8)).contains("holds no files"));
  }
}
