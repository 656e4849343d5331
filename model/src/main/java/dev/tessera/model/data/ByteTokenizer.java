package dev.tessera.model.data;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** UTF-8 bytes as tokens: a vocabulary of 256, any input. */
public final class ByteTokenizer implements Tokenizer {
  @Override
  public int vocabSize() {
    return 256;
  }

  @Override
  public int[] encode(String text) {
    return encodeBytes(text.getBytes(StandardCharsets.UTF_8));
  }

  public static int[] encodeBytes(byte[] bytes) {
    int[] ids = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      ids[i] = bytes[i] & 0xFF;
    }
    return ids;
  }

  @Override
  public String decode(int[] ids) {
    byte[] b = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) {
      b[i] = (byte) ids[i];
    }
    return new String(b, StandardCharsets.UTF_8);
  }

  @Override
  public List<String> spec() {
    return List.of("byte");
  }
}
