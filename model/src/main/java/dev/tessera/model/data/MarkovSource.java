package dev.tessera.model.data;

import dev.tessera.model.Rng;
import java.util.Optional;

/**
 * The built-in corpus: every sequence comes from its own random Markov chain of order {@code order}
 * over {@code alphabet} symbols, each context's transition row drawn from a symmetric
 * Dirichlet({@code alpha}); the first {@code order} symbols are uniform. A model can only do well by
 * learning, in context, the statistics of the sequence in front of it.
 *
 * <p>The Bayes-optimal prediction has a closed form: the posterior predictive of a Dirichlet-
 * multinomial row, (n(ctx, x) + alpha) / (n(ctx) + A alpha), with n counting the transitions seen so
 * far in the sequence (add-alpha smoothing of the in-context counts).
 */
public final class MarkovSource implements DataSource, DataSource.Baselines {
  private static final long VALIDATION_SEED = 0x3A7C0B5EL;

  private final int order;
  private final int alphabet;
  private final double alpha;
  private final Tokenizer tokenizer;

  public MarkovSource(int order, int alphabet, double alpha) {
    if (order < 0 || order > 4) {
      throw new IllegalArgumentException("markov-order must be 0 to 4, got " + order);
    }
    if (alpha <= 0) {
      throw new IllegalArgumentException("markov-alpha must be positive, got " + alpha);
    }
    this.tokenizer = new SymbolTokenizer(alphabet);
    this.order = order;
    this.alphabet = alphabet;
    this.alpha = alpha;
  }

  @Override
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** One sequence of {@code length} symbols from a freshly drawn chain. */
  int[] sequence(Rng rng, int length) {
    int contexts = (int) Math.pow(alphabet, order);
    double[][] rows = new double[contexts][];
    for (int c = 0; c < contexts; c++) {
      rows[c] = rng.nextDirichlet(alphabet, alpha);
    }
    int[] s = new int[length];
    for (int i = 0; i < length; i++) {
      if (i < order) {
        s[i] = rng.nextInt(alphabet);
      } else {
        double u = rng.nextDouble();
        double[] row = rows[context(s, i)];
        int x = 0;
        double acc = row[0];
        while (u >= acc && x < alphabet - 1) {
          x++;
          acc += row[x];
        }
        s[i] = x;
      }
    }
    return s;
  }

  /** The index of the {@code order} symbols before position i. */
  private int context(int[] s, int i) {
    int c = 0;
    for (int j = i - order; j < i; j++) {
      c = c * alphabet + s[j];
    }
    return c;
  }

  private Batch batch(Rng rng, int batch, int block) {
    int[] ids = new int[batch * block];
    int[] targets = new int[batch * block];
    for (int b = 0; b < batch; b++) {
      int[] s = sequence(rng, block + 1);
      System.arraycopy(s, 0, ids, b * block, block);
      System.arraycopy(s, 1, targets, b * block, block);
    }
    return new Batch(batch, block, ids, targets);
  }

  @Override
  public Batch train(Rng rng, int batch, int block) {
    return batch(rng, batch, block);
  }

  @Override
  public Batch validation(int index, int batch, int block) {
    return batch(Rng.derive(VALIDATION_SEED, "val-" + index), batch, block);
  }

  @Override
  public String describe() {
    return "built-in Markov corpus: order " + order + ", " + alphabet + " symbols, Dirichlet alpha " + alpha
        + " (a new chain for every sequence)";
  }

  @Override
  public Optional<Baselines> baselines() {
    return Optional.of(this);
  }

  /** Rebuilds sequence b of a batch: its ids and the last target. */
  private static int[] sequenceOf(Batch batch, int b) {
    int t = batch.block();
    int[] s = new int[t + 1];
    System.arraycopy(batch.ids(), b * t, s, 0, t);
    s[t] = batch.targets()[b * t + t - 1];
    return s;
  }

  @Override
  public double bayesOptimal(Batch batch) {
    double total = 0;
    int contexts = (int) Math.pow(alphabet, order);
    for (int b = 0; b < batch.batch(); b++) {
      int[] s = sequenceOf(batch, b);
      int[][] counts = new int[contexts][alphabet];
      int[] rowTotals = new int[contexts];
      for (int i = 1; i < s.length; i++) {
        if (i < order) {
          total += Math.log(alphabet);
        } else {
          if (i - 1 >= order) {
            int prev = context(s, i - 1);
            counts[prev][s[i - 1]]++;
            rowTotals[prev]++;
          }
          int c = context(s, i);
          total -= Math.log((counts[c][s[i]] + alpha) / (rowTotals[c] + alphabet * alpha));
        }
      }
    }
    return total / (batch.batch() * batch.block());
  }

  @Override
  public double unigram(Batch batch) {
    double total = 0;
    for (int b = 0; b < batch.batch(); b++) {
      int[] s = sequenceOf(batch, b);
      int[] counts = new int[alphabet];
      counts[s[0]]++;
      for (int i = 1; i < s.length; i++) {
        total -= Math.log((counts[s[i]] + alpha) / (i + alphabet * alpha));
        counts[s[i]]++;
      }
    }
    return total / (batch.batch() * batch.block());
  }

  @Override
  public double contextFree() {
    return Math.log(alphabet);
  }
}
