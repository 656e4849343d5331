package dev.tessera.coordinator.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class TesseraCommandTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cl = TesseraCommand.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args);
  }

  @Test
  void helpListsTheCommands() {
    assertEquals(0, run("--help"));
    assertTrue(out.toString().contains("selfcheck"), out.toString());
    assertTrue(out.toString().contains("devices"), out.toString());
  }

  @Test
  void selfcheckOnTheReferencePasses() {
    assertEquals(0, run("selfcheck", "--device", "java"));
  }

  @Test
  void anUnknownDeviceIsAUsageErrorWithTheChoices() {
    assertEquals(TesseraCommand.USAGE_ERROR, run("selfcheck", "--device", "tpu"));
    assertTrue(err.toString().contains("expected one of auto, gpu, cpu, java, reference"), err.toString());
  }

  @Test
  void anUnknownOptionIsRejected() {
    assertEquals(TesseraCommand.USAGE_ERROR, run("selfcheck", "--devcie", "cpu"));
    assertTrue(err.toString().contains("--devcie"), err.toString());
  }
}
