package dev.tessera.kernels.opencl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DeviceArenaTest {

  @Test
  void randomAllocationsAndReleasesNeverOverlap() {
    // A free list of a few hundred blocks makes TreeMap nodes with two children, where removing an
    // entry while holding it used to hand out a wrong block length (overlapping live tensors).
    DeviceArena arena = new DeviceArena("test", 1 << 20);
    Random r = new Random(42);
    List<int[]> live = new ArrayList<>();
    for (int step = 0; step < 5000; step++) {
      if (live.isEmpty() || r.nextInt(3) > 0) {
        int n = 1 + r.nextInt(2000);
        int off = arena.allocate(n);
        if (off < 0) {
          arena.grow(arena.capacity() * 2);
          off = arena.allocate(n);
        }
        assertTrue(off >= 0);
        live.add(new int[] {off, n});
      } else {
        int[] b = live.remove(r.nextInt(live.size()));
        arena.release(b[0], b[1]);
      }
      arena.verify("step " + step);
    }
    for (int[] b : live) {
      arena.release(b[0], b[1]);
    }
    assertEquals(0, arena.used());
  }

  @Test
  void releasingTwiceIsAnError() {
    DeviceArena arena = new DeviceArena("test", 1024);
    int off = arena.allocate(10);
    arena.release(off, 10);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> arena.release(off, 10));
    assertTrue(e.getMessage().contains("released twice"), e.getMessage());
  }
}
