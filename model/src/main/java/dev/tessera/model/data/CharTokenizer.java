package dev.tessera.model.data;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** Characters (Unicode code points) as tokens; the vocabulary is the corpus's sorted distinct characters. */
public final class CharTokenizer implements Tokenizer {
  private final int[] codePoints;
  private final Map<Integer, Integer> index = new HashMap<>();

  private CharTokenizer(int[] codePoints) {
    this.codePoints = codePoints;
    for (int i = 0; i < codePoints.length; i++) {
      index.put(codePoints[i], i);
    }
  }

  public static CharTokenizer fromCorpus(String text) {
    TreeSet<Integer> set = new TreeSet<>();
    text.codePoints().forEach(set::add);
    return new CharTokenizer(set.stream().mapToInt(Integer::intValue).toArray());
  }

  public static CharTokenizer fromVocabulary(String vocabulary) {
    return new CharTokenizer(vocabulary.codePoints().toArray());
  }

  @Override
  public int vocabSize() {
    return codePoints.length;
  }

  @Override
  public int[] encode(String text) {
    return text.codePoints().map(cp -> {
      Integer id = index.get(cp);
      if (id == null) {
        throw new IllegalArgumentException("character '" + new String(Character.toChars(cp)) + "' (U+"
            + Integer.toHexString(cp).toUpperCase() + ") is not in the vocabulary of this model");
      }
      return id;
    }).toArray();
  }

  @Override
  public String decode(int[] ids) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      sb.appendCodePoint(codePoints[id]);
    }
    return sb.toString();
  }

  @Override
  public List<String> spec() {
    return List.of("char", new String(codePoints, 0, codePoints.length));
  }
}
