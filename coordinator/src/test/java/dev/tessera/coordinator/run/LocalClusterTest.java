package dev.tessera.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.comm.Group;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LocalClusterTest {
  @Test
  void workersOnOneHostShareItsCoresForCodecThreads() {
    assertEquals(2, Group.sharedCodecThreads(16, 8));
    assertEquals(4, Group.sharedCodecThreads(16, 4));
    assertEquals(1, Group.sharedCodecThreads(2, 2), "a 2-core host: the calling thread does the work");
    assertEquals(1, Group.sharedCodecThreads(2, 4), "never fewer than one");
    assertEquals(16, Group.sharedCodecThreads(16, 1));
  }

  @Test
  void onlyRunsWhoseSumsAreExactShareTheCores() {
    TrainConfig exact = TrainConfigs.with(TrainConfig.DEFAULTS, Map.of("dp", 2, "tp", 2));
    assertEquals(4, LocalCluster.codecThreads(exact, 16), "dp2 x tp2, fp32: a quarter of 16 cores each");
    TrainConfig lossy = TrainConfigs.with(exact, Map.of("dp-codec", "bf16"));
    assertEquals(0, LocalCluster.codecThreads(lossy, 16), "bf16 dp sums: the JVM's default");
  }

  @Test
  void aWorkersCommandSetsItsShareOfCodecThreads() {
    LaunchRun.Options o = new LaunchRun.Options(2, false, "127.0.0.1", "1g", 0, Duration.ofSeconds(60),
        Duration.ofSeconds(8), Duration.ofSeconds(60), null);
    List<String> members = List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3");
    List<String> cmd = LocalCluster.command(1, "job", members, o, 3);
    assertTrue(cmd.contains("-D" + Group.CODEC_THREADS_PROPERTY + "=3"), cmd.toString());
    assertEquals(1, cmd.stream().filter(a -> a.startsWith("-D" + Group.CODEC_THREADS_PROPERTY + "=")).count(), cmd
        .toString());
    assertTrue(cmd.contains("-Xmx1g"), cmd.toString());
    List<String> byDefault = LocalCluster.command(1, "job", members, o, 0);
    assertTrue(byDefault.stream().noneMatch(a -> a.startsWith("-D" + Group.CODEC_THREADS_PROPERTY + "=")),
        "0: the worker JVM's own default");
  }
}
