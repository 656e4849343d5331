package dev.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.io.Safetensors;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointsTest {
  @TempDir
  Path tmp;

  private static TrainConfig tiny() {
    Map<String, Object> o = new HashMap<>();
    o.put("n-layer", 1);
    o.put("n-embd", 16);
    o.put("n-head", 2);
    o.put("block-size", 8);
    o.put("batch-size", 2);
    o.put("device", "reference");
    return TrainConfigs.resolve(null, o);
  }

  @Test
  void oneWorkersCheckpointIsOneRankFileAndAVersion2CheckpointStillLoads() throws Exception {
    TrainConfig cfg = tiny();
    try (Shard shard = Shard.build(cfg, Shard.dataSource(cfg), null, 0)) {
      shard.step(tmp.resolve("unused"));
      Path ck = shard.checkpoint(tmp.resolve("run"));
      Checkpoints.Checkpoint c = Checkpoints.verify(ck);
      assertEquals(java.util.List.of(Checkpoints.rankFile(0)), c.manifest().files());
      Map<String, Safetensors.Entry> whole = Checkpoints.wholeTensors(c, true);
      assertTrue(whole.containsKey("wte") && whole.containsKey("m.wte") && whole.containsKey("v.wte"), whole.keySet()
          .toString());

      // The same state as a version 2 checkpoint: the whole model in model.safetensors and optimizer.safetensors.
      Path old = tmp.resolve("old").resolve("checkpoints").resolve("step-1");
      Files.createDirectories(old);
      Map<String, Safetensors.Entry> model = new LinkedHashMap<>();
      Map<String, Safetensors.Entry> moments = new LinkedHashMap<>();
      whole.forEach((k, v) -> (k.startsWith("m.") || k.startsWith("v.") ? moments : model).put(k, v));
      Safetensors.write(old.resolve(Checkpoints.MODEL), model, Map.of());
      Safetensors.write(old.resolve(Checkpoints.OPTIMIZER), moments, Map.of());
      Files.writeString(old.resolve(Checkpoints.MANIFEST), "{\"format\":\"tessera-checkpoint\",\"version\":2,\"step\":1,"
          + "\"dataRngState\":" + c.manifest().dataRngState() + ",\"tokenizer\":" + new com.fasterxml.jackson.databind
          .ObjectMapper().writeValueAsString(c.manifest().tokenizer()) + ",\"sha256\":{\"" + Checkpoints.MODEL + "\":\""
          + Checkpoints.sha256(old.resolve(Checkpoints.MODEL)) + "\",\"" + Checkpoints.OPTIMIZER + "\":\""
          + Checkpoints.sha256(old.resolve(Checkpoints.OPTIMIZER)) + "\"}}", StandardCharsets.UTF_8);
      Checkpoints.Checkpoint v2 = Checkpoints.latest(tmp.resolve("old"), w -> { }).orElseThrow();
      Map<String, Safetensors.Entry> back = Checkpoints.wholeTensors(v2, true);
      assertEquals(whole.keySet(), back.keySet());
      for (String name : whole.keySet()) {
        assertArrayEquals(whole.get(name).data(), back.get(name).data(), name);
      }
      try (Shard fresh = Shard.build(cfg, Shard.dataSource(cfg), null, 0)) {
        Checkpoints.restore(v2, fresh.trainer());
        assertEquals(1, fresh.trainer().stepsDone());
        assertEquals(shard.step(tmp.resolve("unused")).result().loss(), fresh.step(tmp.resolve("unused")).result()
            .loss(), 0, "the restored trainer takes the same next step");
      }
    }
  }
}
