package dev.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.comm.CommException;
import dev.tessera.comm.LocalFabric;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every control message round-trips through its bytes and through a transport; bad bytes are named. */
class ControlTest {
  private static final List<Object> MESSAGES = List.of(
      new Control.Plan(2, "/runs/a", "steps: 10\n", "/runs/a/checkpoints/step-8", 600),
      new Control.Ready(1, 4242, "OpenCL CPU", 105_472, 8, 1 << 28, new double[] {1.04, 1.73, 2.08}),
      new Control.Go(8, false, false),
      new Control.Go(9, true, true),
      new Control.StepDone(0, 8, 1.9442, 1.5e-3f, 0.527, 4096, 0.11, Double.NaN, "", 200_000_000L, 150_000_000L, 0, 6_433_000,
          0.012),
      new Control.Failed(1, Control.DIVERGED, "step 3: the training loss is NaN"));

  @Test
  void everyMessageRoundTripsThroughItsBytes() {
    for (Object m : MESSAGES) {
      Object back = Control.decode(Control.encode(m), "test");
      if (m instanceof Control.Ready r) {
        Control.Ready b = (Control.Ready) back;
        assertArrayEquals(r.baselines(), b.baselines());
        assertEquals(r.device(), b.device());
        assertEquals(r.stepsDone(), b.stepsDone());
      } else {
        assertEquals(m, back);
      }
    }
  }

  @Test
  void truncatedOrUnknownBytesAreABadFrameNamingTheSender() {
    byte[] plan = Control.encode(MESSAGES.get(0));
    CommException.BadFrame e = assertThrows(CommException.BadFrame.class, () -> Control.decode(
        java.util.Arrays.copyOf(plan, plan.length - 3), "rank 2"));
    assertTrue(e.getMessage().contains("rank 2"), e.getMessage());
    assertThrows(CommException.BadFrame.class, () -> Control.decode(new byte[] {0x7f, 1, 2}, "rank 2"));
    byte[] longer = java.util.Arrays.copyOf(plan, plan.length + 1);
    assertThrows(CommException.BadFrame.class, () -> Control.decode(longer, "rank 2"));
  }

  @Test
  void aPolledReplyThatComesLateIsStillReceived() throws Exception {
    LocalFabric fabric = new LocalFabric(2);
    assertEquals(null, Control.pollDone(fabric.transport(1), 0, 3, Duration.ofMillis(20)), "nothing yet");
    Control.StepDone d = (Control.StepDone) MESSAGES.get(4);
    Control.send(fabric.transport(0), 1, Control.DONE, 3, d, Duration.ofSeconds(5));
    assertEquals(d, Control.pollDone(fabric.transport(1), 0, 3, Duration.ofSeconds(5)));
  }
}
