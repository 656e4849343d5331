package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A JVM on this test JVM's class path and module options, for tests of what JVM flags do. */
public final class ChildJvm {
  private ChildJvm() {
  }

  /**
   * Runs {@code main} under {@code jvmArgs}, with {@code LD_PRELOAD} set to {@code preload} (null:
   * unset), and returns what it printed; fails unless it exits 0 within 60 s.
   */
  public static String run(Class<?> main, List<String> jvmArgs, String preload) throws IOException,
      InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    cmd.addAll(jvmArgs);
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream().filter(a -> a.startsWith("--add-"))
        .forEach(cmd::add);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    Path log = Files.createTempFile("child-jvm", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().remove("LD_PRELOAD");
    if (preload != null) {
      pb.environment().put("LD_PRELOAD", preload);
    }
    Process p = pb.start();
    try {
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), main.getSimpleName() + " did not exit within 60 s: "
          + Files.readString(log));
    } finally {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    Files.deleteIfExists(log);
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
