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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The README's first command, run for real: the ./tessera launcher in a separate process. */
class LauncherTest {
  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  record Result(int exit, String out) {
  }

  static Result tessera(String... args) throws IOException, InterruptedException {
    Path log = Files.createTempFile("tessera", ".log");
    List<String> cmd = new java.util.ArrayList<>(List.of(ROOT.resolve("tessera").toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
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

  @Test
  void aMissingGpuIsAClearErrorNotAFallback() throws Exception {
    Assumptions.assumeTrue(OpenClDevices.first(Device.TYPE.GPU).isEmpty(), "this machine has an OpenCL GPU");
    Result r = tessera("selfcheck", "--device", "gpu");
    assertEquals(2, r.exit(), r.out());
    assertTrue(r.out().contains("device 'gpu' was requested but there is no OpenCL GPU"), r.out());
  }
}
