package dev.tessera.model.data;

import java.util.List;

/** Text to token ids and back. */
public interface Tokenizer {
  int vocabSize();

  int[] encode(String text);

  String decode(int[] ids);

  /** A description that, with {@link #fromSpec}, rebuilds this tokenizer (saved in checkpoints). */
  List<String> spec();

  static Tokenizer fromSpec(List<String> spec) {
    if (spec.isEmpty()) {
      throw new IllegalArgumentException("empty tokenizer spec");
    }
    return switch (spec.get(0)) {
      case "byte" -> new ByteTokenizer();
      case "char" -> CharTokenizer.fromVocabulary(spec.get(1));
      case "symbols" -> new SymbolTokenizer(Integer.parseInt(spec.get(1)));
      default -> throw new IllegalArgumentException("unknown tokenizer '" + spec.get(0) + "'");
    };
  }
}
