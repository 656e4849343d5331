package dev.tessera.jobs;

import dev.tessera.model.data.ByteTokenizer;
import dev.tessera.model.data.CharTokenizer;
import dev.tessera.model.data.TokenShards;
import dev.tessera.model.data.Tokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * Spark reads a corpus (text files, JSON lines or Parquet, from any Hadoop-supported path), the
 * executors tokenise it, and each partition writes one token shard ({@link TokenShards}) straight to
 * the output directory; the driver then writes {@code index.json}, which splits the token stream into
 * training and validation tokens as {@code tessera train --data FILE} would. Documents keep their
 * order (text files by name), so shards of a text train exactly as the text does.
 */
public final class ShardCorpus {
  /** How the input is laid out. */
  public enum Format {
    /** Text files, each one document (read whole, in name order, concatenated as they are). */
    TEXT,
    /** JSON lines, one document per line in a string field. */
    JSON,
    /** Parquet, one document per row in a string column. */
    PARQUET
  }

  /**
   * What to shard and how.
   *
   * @param column the JSON field or Parquet column holding the text (ignored for TEXT)
   * @param tokenizer "char" (vocabulary from the corpus) or "byte"
   * @param shards how many shard files (partitions) to write
   * @param separator appended to every document read from rows (JSON lines, Parquet, a Dataset); whole
   *     text files are joined as they are
   */
  public record Options(Format format, String column, String tokenizer, double valFraction, int shards,
      String separator) implements Serializable {
    public Options {
      if (!tokenizer.equals("char") && !tokenizer.equals("byte")) {
        throw new IllegalArgumentException("tokenizer: unknown value '" + tokenizer + "'; expected char or byte");
      }
      if (valFraction <= 0 || valFraction >= 1) {
        throw new IllegalArgumentException("val-fraction must be between 0 and 1 (exclusive), got " + valFraction);
      }
      if (shards < 1) {
        throw new IllegalArgumentException("shards must be at least 1, got " + shards);
      }
    }
  }

  /** What was written: the output directory, its index, the input's bytes of text and how long it took. */
  public record Result(String out, TokenShards.Index index, long textBytes, double seconds) {
  }

  private ShardCorpus() {
  }

  /** Reads {@code paths} in the given format and shards them into {@code out}. */
  public static Result run(SparkSession spark, List<String> paths, String out, Options o) {
    if (paths.isEmpty()) {
      throw new IllegalArgumentException("no input path");
    }
    String[] in = paths.toArray(new String[0]);
    Dataset<Row> docs = switch (o.format()) {
      case TEXT -> spark.read().option("wholetext", "true").option("recursiveFileLookup", "true").text(in)
          .withColumn("file", functions.input_file_name()).orderBy("file").select("value");
      case JSON -> column(spark.read().json(in), o.column(), paths);
      case PARQUET -> column(spark.read().parquet(in), o.column(), paths);
    };
    // Whole text files are joined as they are (as tessera train --data DIR reads them); rows get the separator.
    Options eff = o.format() == Format.TEXT ? new Options(o.format(), o.column(), o.tokenizer(), o.valFraction(),
        o.shards(), "") : o;
    return run(docs, out, eff, String.join(",", paths) + " (" + o.format().name().toLowerCase(Locale.ROOT) + ")");
  }

  private static Dataset<Row> column(Dataset<Row> all, String column, List<String> paths) {
    if (column == null || !Arrays.asList(all.columns()).contains(column)) {
      throw new IllegalArgumentException("no column '" + column + "' in " + String.join(",", paths) + "; its columns: "
          + String.join(", ", all.columns()) + " (choose one with --column)");
    }
    return all.select(functions.col(column).cast("string"));
  }

  /** Shards the first (string) column of {@code docs}, in its order, each document followed by the separator. */
  public static Result run(Dataset<Row> docs, String out, Options o, String source) {
    long t0 = System.nanoTime();
    Configuration conf = docs.sparkSession().sparkContext().hadoopConfiguration();
    Path dir = new Path(out);
    requireEmpty(dir, conf);
    String sep = o.separator();
    // Read once: counting, the vocabulary and the shards all pass over it.
    JavaRDD<String> texts = docs.toJavaRDD().filter(r -> !r.isNullAt(0)).map(r -> r.getString(0) + sep)
        .persist(StorageLevel.MEMORY_AND_DISK());
    JavaPairRDD<Long, String> indexed = texts.zipWithIndex().mapToPair(t -> new Tuple2<>(t._2(), t._1()));
    long documents = indexed.count();
    if (documents == 0) {
      throw new IllegalArgumentException("no documents in " + source + " (empty, or every value null)");
    }
    List<String> spec = spec(texts, o.tokenizer());
    int width = TokenShards.width(Tokenizer.fromSpec(spec).vocabSize());
    String target = dir.toString();
    List<TokenShards.ShardFile> files = new ArrayList<>(indexed
        .repartitionAndSortWithinPartitions(new InOrder(o.shards(), documents))
        .mapPartitionsWithIndex((p, it) -> write(target, p, it, spec, width), true)
        .collect());
    files.sort(Comparator.comparing(TokenShards.ShardFile::file));
    long bytes = texts.map(s -> (long) s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length)
        .fold(0L, Long::sum);
    TokenShards.Index index = TokenShards.split(spec, width, documents, source, files, o.valFraction());
    if (index.train().isEmpty() || index.val().isEmpty()) {
      throw new IllegalArgumentException(source + " has too few tokens (" + files.stream()
          .mapToLong(TokenShards.ShardFile::tokens).sum() + ") for a training and a validation split");
    }
    writeIndex(dir, conf, index);
    texts.unpersist();
    return new Result(out, index, bytes, (System.nanoTime() - t0) / 1e9);
  }

  /** The tokenizer's spec: the byte tokenizer, or the corpus's sorted distinct characters. */
  private static List<String> spec(JavaRDD<String> texts, String tokenizer) {
    if (tokenizer.equals("byte")) {
      return new ByteTokenizer().spec();
    }
    List<Integer> cps = new ArrayList<>(texts.flatMap(s -> s.codePoints().distinct().boxed().iterator()).distinct()
        .collect());
    cps.sort(Integer::compare);
    int[] sorted = cps.stream().mapToInt(Integer::intValue).toArray();
    return CharTokenizer.fromVocabulary(new String(sorted, 0, sorted.length)).spec();
  }

  /** Writes partition {@code p}'s documents as shard {@code part-p.bin}; empty partitions write nothing. */
  private static Iterator<TokenShards.ShardFile> write(String dir, int p, Iterator<Tuple2<Long, String>> docs,
      List<String> spec, int width) throws IOException {
    if (!docs.hasNext()) {
      return List.<TokenShards.ShardFile>of().iterator();
    }
    Tokenizer tok = Tokenizer.fromSpec(spec);
    String name = String.format(Locale.ROOT, "part-%05d.bin", p);
    Path file = new Path(dir, name);
    FileSystem fs = file.getFileSystem(new Configuration());
    try (OutputStream os = fs.create(file, false)) {
      TokenShards.Writer w = new TokenShards.Writer(os, name, width);
      while (docs.hasNext()) {
        w.append(tok.encode(docs.next()._2()));
      }
      return List.of(w.finish()).iterator();
    }
  }

  private static void requireEmpty(Path dir, Configuration conf) {
    try {
      FileSystem fs = dir.getFileSystem(conf);
      if (fs.exists(dir) && fs.listStatus(dir).length > 0) {
        throw new IllegalArgumentException("output " + dir + " exists and is not empty; choose another (nothing was "
            + "written)");
      }
      fs.mkdirs(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare " + dir + ": " + e.getMessage(), e);
    }
  }

  /** index.json last, under a temporary name and renamed: a directory with an index is complete. */
  private static void writeIndex(Path dir, Configuration conf, TokenShards.Index index) {
    try {
      FileSystem fs = dir.getFileSystem(conf);
      Path tmp = new Path(dir, TokenShards.INDEX + ".tmp");
      try (OutputStream os = fs.create(tmp, true)) {
        os.write(TokenShards.indexBytes(index));
      }
      if (!fs.rename(tmp, new Path(dir, TokenShards.INDEX))) {
        throw new IOException("rename of " + tmp + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the index in " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Documents 0..n-1 into {@code parts} partitions of consecutive indices, in order. */
  static final class InOrder extends Partitioner {
    private final int parts;
    private final long documents;

    InOrder(int parts, long documents) {
      this.parts = (int) Math.max(1, Math.min(parts, documents));
      this.documents = documents;
    }

    @Override
    public int numPartitions() {
      return parts;
    }

    @Override
    public int getPartition(Object key) {
      return (int) ((Long) key * parts / documents);
    }
  }
}
