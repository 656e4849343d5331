package dev.tessera.model.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.Rng;
import org.junit.jupiter.api.Test;

class MarkovSourceTest {

  @Test
  void theBayesOptimumBeatsTheUnigramBaselineWhichBeatsAUniformGuess() {
    MarkovSource s = new MarkovSource(1, 8, 0.1);
    double bayes = 0;
    double unigram = 0;
    for (int i = 0; i < 8; i++) {
      Batch b = s.validation(i, 16, 64);
      bayes += s.bayesOptimal(b) / 8;
      unigram += s.unigram(b) / 8;
    }
    assertTrue(bayes < unigram - 0.3, "bayes " + bayes + " vs unigram " + unigram);
    assertTrue(unigram < s.contextFree(), "unigram " + unigram + " vs ln 8");
  }

  @Test
  void withOneSymbolOfContextTheOptimumUsesTheTransitionCounts() {
    // Order 1 over 2 symbols, alpha 1: after "0 0 0" the chance of another 0 is (2 + 1) / (2 + 2).
    MarkovSource s = new MarkovSource(1, 2, 1.0);
    Batch b = new Batch(1, 3, new int[] {0, 0, 0}, new int[] {0, 0, 0});
    double expected = -(Math.log(0.5) + Math.log(2.0 / 3) + Math.log(3.0 / 4)) / 3;
    assertEquals(expected, s.bayesOptimal(b), 1e-12);
  }

  @Test
  void sequencesAreDeterministicAndUseTheAlphabet() {
    MarkovSource s = new MarkovSource(2, 5, 0.5);
    assertArrayEquals(s.train(new Rng(9), 2, 32).ids(), s.train(new Rng(9), 2, 32).ids());
    for (int id : s.train(new Rng(3), 4, 32).ids()) {
      assertTrue(id >= 0 && id < 5);
    }
  }
}
