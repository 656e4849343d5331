package dev.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigsTest {
  @TempDir
  Path dir;

  private String error(Path file, Map<String, Object> options) {
    return assertThrows(IllegalArgumentException.class, () -> TrainConfigs.resolve(file, options)).getMessage();
  }

  @Test
  void optionsWinOverTheFileWhichWinsOverDefaults() throws Exception {
    Path f = Files.writeString(dir.resolve("run.yaml"), "n-layer: 3\nlearning-rate: 0.001\nsteps: 10\n");
    TrainConfig c = TrainConfigs.resolve(f, Map.of("steps", 20));
    assertEquals(3, c.nLayer());
    assertEquals(1e-3f, c.learningRate());
    assertEquals(20, c.steps());
    assertEquals(TrainConfig.DEFAULTS.nEmbd(), c.nEmbd());
  }

  @Test
  void theResolvedConfigReadsBackTheSame() throws Exception {
    TrainConfig c = TrainConfigs.resolve(null, Map.of("n-embd", 96, "norm", "rmsnorm"));
    Path f = Files.writeString(dir.resolve("config.yaml"), TrainConfigs.toYaml(c));
    assertEquals(c, TrainConfigs.read(f));
  }

  @Test
  void unknownKeysAndWrongTypesAreRejected() throws Exception {
    Path typo = Files.writeString(dir.resolve("typo.yaml"), "n-layers: 3\n");
    assertTrue(error(typo, Map.of()).contains("unknown key 'n-layers'"));
    Path word = Files.writeString(dir.resolve("word.yaml"), "n-layer: four\n");
    String m = error(word, Map.of());
    assertTrue(m.contains("n-layer"), m);
    Path fraction = Files.writeString(dir.resolve("fraction.yaml"), "steps: 1.5\n");
    assertTrue(error(fraction, Map.of()).contains("steps"));
    Path list = Files.writeString(dir.resolve("list.yaml"), "- 1\n- 2\n");
    assertTrue(error(list, Map.of()).contains("mapping"));
  }

  @Test
  void impossibleValuesNameTheirKey() {
    assertTrue(error(null, Map.of("n-embd", 30, "n-head", 4)).contains("n-embd (30) must be a positive multiple of "
        + "n-head (4)"));
    assertTrue(error(null, Map.of("norm", "batchnorm")).contains("norm: unknown value 'batchnorm'"));
    assertTrue(error(null, Map.of("steps", 0)).contains("steps must be at least 1"));
    assertTrue(error(null, Map.of("tokenizer", "bpe")).contains("tokenizer"));
    assertTrue(error(dir.resolve("none.yaml"), Map.of()).contains("does not exist"));
  }

  /** devices: worker r takes the (r mod n)-th; without them, device r; bad lists are refused naming the key. */
  @Test
  void devicesGiveEachRankItsDevice() {
    TrainConfig c = TrainConfigs.resolve(null, Map.of("devices", java.util.List.of(2, 0), "device", "cpu"));
    assertEquals(java.util.List.of(2, 0, 2), java.util.List.of(Shard.device(c, 0), Shard.device(c, 1), Shard.device(c, 2)));
    assertEquals(3, Shard.device(TrainConfigs.resolve(null, Map.of()), 3));
    assertTrue(error(null, Map.of("devices", java.util.List.of(-1))).contains("devices must be device numbers from 0"));
    assertTrue(error(null, Map.of("devices", java.util.List.of(1), "device", "java"))
        .contains("devices picks OpenCL devices; device 'java' has none"));
  }

  /** dp-bucket-mb: 0 (a sum per block) by default, MB as given, a negative one refused naming the key. */
  @Test
  void aDpBucketIsZeroOrMoreMegabytes() {
    assertEquals(0f, TrainConfigs.resolve(null, Map.of()).dpBucketMb());
    assertEquals(25f, TrainConfigs.resolve(null, Map.of("dp-bucket-mb", 25)).dpBucketMb());
    assertTrue(error(null, Map.of("dp-bucket-mb", -1)).contains("dp-bucket-mb must be 0 or more MB, got -1.0"));
  }
}
