package dev.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.aparapi.device.Device;
import dev.tessera.kernels.opencl.OpenClDevices;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The README's first command, run for real: the ./tessera launcher in a separate process. */
class LauncherTest {
  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  record Result(int exit, String out) {
  }

  static Result tessera(String... args) throws IOException, InterruptedException {
    return tessera(Map.of(), args);
  }

  static Result tessera(Map<String, String> env, String... args) throws IOException, InterruptedException {
    Path log = Files.createTempFile("tessera", ".log");
    List<String> cmd = new java.util.ArrayList<>(List.of(ROOT.resolve("tessera").toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("./tessera " + String.join(" ", args) + " did not finish within 180 s:\n" + Files.readString(log));
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    Files.delete(log);
    return new Result(p.exitValue(), out);
  }

  /** Skips with the reason when there is no OpenCL CPU device; fails instead under CI=true. */
  static void requireOpenClCpu() {
    if (OpenClDevices.first(Device.TYPE.CPU).isEmpty()) {
      String why = "no OpenCL CPU device: " + OpenClDevices.inventory();
      if ("true".equals(System.getenv("CI"))) {
        fail(why);
      }
      Assumptions.abort(why);
    }
  }

  /** {@code tessera devices} numbers the devices per kind, as --devices counts them. */
  @Test
  void devicesNumbersEachKindsDevicesAsDevicesCountsThem() throws Exception {
    requireOpenClCpu();
    Result r = tessera("devices");
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("\n  cpu 0: "), r.out());
    assertTrue(r.out().contains("auto picks: OpenCL"), r.out());
  }

  @Test
  void selfcheckRunsEveryOpOnOpenClAndReportsTheDevice() throws Exception {
    requireOpenClCpu();
    Result r = tessera("selfcheck", "--device", "cpu");
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("device: OpenCL CPU"), r.out());
    assertTrue(r.out().contains("attention"), r.out());
    assertTrue(r.out().contains("all ops match the reference"), r.out());
  }

  @Test
  void trainThenSampleFromTheCommandLine(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
    requireOpenClCpu();
    Path run = tmp.resolve("run");
    Result r = tessera("train", "--steps", "30", "--n-layer", "1", "--n-embd", "32", "--eval-every", "10",
        "--out", run.toString());
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("compute device: OpenCL CPU"), r.out());
    assertTrue(r.out().contains("run " + run + ": 30 steps, validation loss"), r.out());
    assertTrue(Files.exists(run.resolve("report.md")) && Files.exists(run.resolve("loss.png")));
    Result s = tessera("sample", "--run", run.toString(), "--prompt", "abc", "--tokens", "20");
    assertEquals(0, s.exit(), s.out());
    assertTrue(s.out().lines().anyMatch(l -> l.matches("abc[a-h]{20}")), s.out());
    Result bad = tessera("train", "--n-layers", "2");
    assertEquals(2, bad.exit(), bad.out());
    assertTrue(bad.out().contains("--n-layers"), bad.out());
  }

  /**
   * A machine without fonts (fontconfig finds none: an empty fonts.conf, and a fresh user.home so that the
   * JDK's cache of an earlier lookup is not used) cannot draw loss.png. The run must still finish: exit 0,
   * report.md written, a warning, and no empty loss.png left behind. On the reference device: no OpenCL needed.
   */
  @Test
  void aMachineWithoutFontsFinishesTheRunWithoutLossPng(@org.junit.jupiter.api.io.TempDir Path tmp)
      throws Exception {
    Path conf = Files.writeString(tmp.resolve("fonts.conf"), "<?xml version=\"1.0\"?>\n<fontconfig></fontconfig>\n");
    Path home = Files.createDirectories(tmp.resolve("home"));
    Path run = tmp.resolve("run");
    Result r = tessera(Map.of("FONTCONFIG_FILE", conf.toString(), "JAVA_OPTS", "-Duser.home=" + home),
        "train", "--device", "reference", "--steps", "2", "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
        "--block-size", "8", "--batch-size", "2", "--eval-batches", "1", "--out", run.toString());
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("loss.png not written"), "the warning: " + r.out());
    assertTrue(Files.exists(run.resolve("report.md")), "report.md");
    assertTrue(Files.readString(run.resolve("metrics.csv")).lines().count() == 3, "metrics.csv has both steps");
    assertTrue(!Files.exists(run.resolve("loss.png")), "no empty loss.png");
  }

  @Test
  void aMissingGpuIsAClearErrorNotAFallback() throws Exception {
    Assumptions.assumeTrue(OpenClDevices.first(Device.TYPE.GPU).isEmpty(), "this machine has an OpenCL GPU");
    Result r = tessera("selfcheck", "--device", "gpu");
    assertEquals(2, r.exit(), r.out());
    assertTrue(r.out().contains("device 'gpu' was requested but there is no OpenCL GPU"), r.out());
  }
}
