package dev.tessera.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir
  Path dir;

  private Path sample() throws IOException {
    Map<String, Safetensors.Entry> t = new LinkedHashMap<>();
    t.put("a", new Safetensors.Entry(new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}));
    t.put("b", new Safetensors.Entry(new int[] {1}, new float[] {-7.5f}));
    Path f = dir.resolve("x.safetensors");
    Safetensors.write(f, t, Map.of("format", "test"));
    return f;
  }

  @Test
  void roundTrips() throws IOException {
    Map<String, Safetensors.Entry> back = Safetensors.read(sample());
    assertArrayEquals(new int[] {2, 3}, back.get("a").shape());
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, back.get("a").data());
    assertArrayEquals(new float[] {-7.5f}, back.get("b").data());
    assertEquals("test", Safetensors.metadata(sample()).get("format"));
  }

  @Test
  void aTruncatedFileIsAnErrorNamingIt() throws IOException {
    Path f = sample();
    byte[] all = Files.readAllBytes(f);
    Files.write(f, Arrays.copyOf(all, all.length - 3));
    IOException e = assertThrows(IOException.class, () -> Safetensors.read(f));
    assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void aCorruptHeaderIsAnError() throws IOException {
    Path f = sample();
    byte[] all = Files.readAllBytes(f);
    all[10] = '#';
    Files.write(f, all);
    assertThrows(IOException.class, () -> Safetensors.read(f));
    Files.write(f, new byte[] {1, 2, 3});
    assertThrows(IOException.class, () -> Safetensors.read(f));
  }
}
