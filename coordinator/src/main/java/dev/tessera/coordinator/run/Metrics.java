package dev.tessera.coordinator.run;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** metrics.csv of a run: one row per optimizer step, flushed as it is written. */
final class Metrics implements AutoCloseable {
  static final String HEADER = "step,train_loss,val_loss,lr,grad_norm,tokens_per_s";

  /** One row; valLoss is NaN when the step was not evaluated. */
  record Row(int step, double trainLoss, double valLoss, double lr, double gradNorm, double tokensPerS) {
    String csv() {
      return String.format(Locale.ROOT, "%d,%.6f,%s,%.6g,%.6f,%.1f", step, trainLoss,
          Double.isNaN(valLoss) ? "" : String.format(Locale.ROOT, "%.6f", valLoss), lr, gradNorm, tokensPerS);
    }

    static Row parse(String line) {
      String[] f = line.split(",", -1);
      return new Row(Integer.parseInt(f[0]), Double.parseDouble(f[1]), f[2].isEmpty() ? Double.NaN
          : Double.parseDouble(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5]));
    }
  }

  private final BufferedWriter out;
  private final List<Row> rows = new ArrayList<>();

  private Metrics(BufferedWriter out, List<Row> kept) {
    this.out = out;
    this.rows.addAll(kept);
  }

  /** Starts a new metrics.csv. */
  static Metrics create(Path file) {
    try {
      BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW);
      w.write(HEADER);
      w.newLine();
      w.flush();
      return new Metrics(w, List.of());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + file, e);
    }
  }

  /** Reopens metrics.csv for a resumed run, keeping only the rows of steps before {@code fromStep}. */
  static Metrics resume(Path file, int fromStep) {
    try {
      List<Row> kept = new ArrayList<>();
      if (Files.exists(file)) {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (String l : lines.subList(Math.min(1, lines.size()), lines.size())) {
          if (!l.isBlank()) {
            Row r = Row.parse(l);
            if (r.step() < fromStep) {
              kept.add(r);
            }
          }
        }
      }
      BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
      w.write(HEADER);
      w.newLine();
      for (Row r : kept) {
        w.write(r.csv());
        w.newLine();
      }
      w.flush();
      return new Metrics(w, kept);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot rewrite " + file, e);
    }
  }

  void add(Row r) {
    rows.add(r);
    try {
      out.write(r.csv());
      out.newLine();
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write metrics", e);
    }
  }

  List<Row> rows() {
    return rows;
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close metrics", e);
    }
  }
}
