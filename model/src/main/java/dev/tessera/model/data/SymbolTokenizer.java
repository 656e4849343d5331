package dev.tessera.model.data;

import java.util.List;

/** The built-in corpus's alphabet: token i prints as the i-th letter (a, b, c, ...). */
public final class SymbolTokenizer implements Tokenizer {
  private final int size;

  public SymbolTokenizer(int size) {
    if (size < 2 || size > 26) {
      throw new IllegalArgumentException("the alphabet needs 2 to 26 symbols, got " + size);
    }
    this.size = size;
  }

  @Override
  public int vocabSize() {
    return size;
  }

  @Override
  public int[] encode(String text) {
    return text.chars().map(ch -> {
      int id = ch - 'a';
      if (id < 0 || id >= size) {
        throw new IllegalArgumentException("'" + (char) ch + "' is not one of the " + size + " symbols a.."
            + (char) ('a' + size - 1));
      }
      return id;
    }).toArray();
  }

  @Override
  public String decode(int[] ids) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      sb.append((char) ('a' + id));
    }
    return sb.toString();
  }

  @Override
  public List<String> spec() {
    return List.of("symbols", Integer.toString(size));
  }
}
