package dev.tessera.model.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
  @Test
  void warmsUpLinearlyThenDecaysByCosineToTheMinimum() {
    LrSchedule s = new LrSchedule(1e-3f, 1e-4f, 10, 110);
    assertEquals(1e-3f / 11, s.at(0), 1e-9);
    assertEquals(1e-3f * 10 / 11, s.at(9), 1e-9);
    assertEquals(1e-3f, s.at(10), 1e-9);
    assertEquals((1e-3f + 1e-4f) / 2, s.at(60), 1e-7);
    assertEquals(1e-4f, s.at(110), 1e-9);
    assertEquals(1e-4f, s.at(500), 1e-9);
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3f, 1e-2f, 0, 10));
  }
}
