package dev.tessera.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.Rng;
import dev.tessera.model.data.Batch;
import dev.tessera.model.data.ShardSource;
import dev.tessera.model.data.TextSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Spark (local[2]) shards text files, JSON lines and Parquet; the shards train as the text does. */
class ShardCorpusTest {
  static SparkSession spark;

  @TempDir
  Path dir;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("ShardCorpusTest").config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static String play(int i) {
    return "ACT " + i + ". Enter HAMLET.\nHAMLET: To be, or not to be, that is the question: whether 'tis nobler "
        + "in the mind to suffer the slings and arrows of outrageous fortune " + i + ".\n";
  }

  @Test
  void textFilesShardedBySparkDrawTheSameBatchesAsTheTextReadDirectly() throws Exception {
    Path corpus = dir.resolve("corpus");
    Files.createDirectories(corpus);
    for (int i = 0; i < 6; i++) {
      Files.writeString(corpus.resolve("part" + i + ".txt"), play(i).repeat(3 + i), StandardCharsets.UTF_8);
    }
    Path out = dir.resolve("shards");
    ShardCorpus.Result r = ShardCorpus.run(spark, List.of(corpus.toString()), out.toString(),
        new ShardCorpus.Options(ShardCorpus.Format.TEXT, null, "char", 0.1, 3, "\n"));
    assertEquals(6, r.index().documents());
    assertEquals(3, r.index().files().size(), "one shard per partition: " + r.index().files());
    TextSource want = TextSource.load(corpus, "char", 0.1, 32);
    ShardSource got = ShardSource.load(out, 32);
    assertEquals(want.tokenizer().spec(), got.tokenizer().spec(), "the same vocabulary");
    Rng a = new Rng(3);
    Rng b = new Rng(3);
    for (int i = 0; i < 4; i++) {
      Batch x = want.train(a, 8, 32);
      Batch y = got.train(b, 8, 32);
      assertArrayEquals(x.ids(), y.ids(), "training batch " + i);
      assertArrayEquals(want.validation(i, 8, 32).targets(), got.validation(i, 8, 32).targets(), "validation " + i);
    }
  }

  @Test
  void jsonLinesAndParquetShardTheChosenColumnAndBadInputIsNamed() throws Exception {
    Path json = dir.resolve("docs.jsonl");
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      lines.append("{\"id\": ").append(i).append(", \"text\": \"").append(play(i).replace("\n", " ")).append("\"}\n");
    }
    Files.writeString(json, lines, StandardCharsets.UTF_8);
    ShardCorpus.Options byText = new ShardCorpus.Options(ShardCorpus.Format.JSON, "text", "byte", 0.1, 2, "\n");
    ShardCorpus.Result r = ShardCorpus.run(spark, List.of(json.toString()), dir.resolve("j").toString(), byText);
    assertEquals(40, r.index().documents());
    assertEquals(List.of("byte"), r.index().tokenizer());
    assertTrue(ShardSource.load(dir.resolve("j"), 16).describe().contains("40 documents"));

    Path parquet = dir.resolve("docs.parquet");
    spark.read().json(json.toString()).write().parquet(parquet.toString());
    ShardCorpus.Result p = ShardCorpus.run(spark, List.of(parquet.toString()), dir.resolve("p").toString(),
        new ShardCorpus.Options(ShardCorpus.Format.PARQUET, "text", "byte", 0.1, 2, "\n"));
    assertEquals(40, p.index().documents());

    String missing = assertThrows(IllegalArgumentException.class, () -> ShardCorpus.run(spark,
        List.of(json.toString()), dir.resolve("m").toString(), new ShardCorpus.Options(ShardCorpus.Format.JSON,
            "body", "byte", 0.1, 2, "\n"))).getMessage();
    assertTrue(missing.contains("no column 'body'") && missing.contains("id, text"), missing);
    String taken = assertThrows(IllegalArgumentException.class, () -> ShardCorpus.run(spark,
        List.of(json.toString()), dir.resolve("j").toString(), byText)).getMessage();
    assertTrue(taken.contains("exists and is not empty"), taken);
    Path empty = dir.resolve("empty.jsonl");
    Files.writeString(empty, "{\"text\": null}\n");
    String none = assertThrows(IllegalArgumentException.class, () -> ShardCorpus.run(spark,
        List.of(empty.toString()), dir.resolve("e").toString(), byText)).getMessage();
    assertTrue(none.contains("no documents"), none);
  }
}
