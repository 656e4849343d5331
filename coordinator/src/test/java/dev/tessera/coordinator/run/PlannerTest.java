package dev.tessera.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.parallelism.CostModel;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PlannerTest {
  private static final CostModel.Machine CPU = CostModel.Machine.cpu(2);

  private static TrainConfig config(int dp, int tp, int heads) {
    Map<String, Object> o = new HashMap<>();
    o.put("n-head", heads);
    o.put("dp", dp);
    o.put("tp", tp);
    return TrainConfigs.resolve(null, o);
  }

  @Test
  void autoChoosesTheFastestPredictedLayoutThatFitsAndSaysWhy() {
    Planner.Plan p = Planner.plan(config(1, 1, 4), 8, 4, true, 4L << 30, CPU);
    Planner.Candidate best = p.candidates().stream().filter(c -> c.out() == null)
        .min((a, b) -> Double.compare(a.cost().stepSeconds(), b.cost().stepSeconds())).orElseThrow();
    assertEquals(best, p.chosen());
    assertEquals(best.dp(), p.config().dp());
    assertEquals(best.tp(), p.config().tp());
    assertEquals(3, p.candidates().size(), "dp4 tp1, dp2 tp2, dp1 tp4");
    assertTrue(p.reasoning().stream().anyMatch(l -> l.contains("chosen: the fastest that fits")), p.reasoning()
        .toString());
    assertTrue(p.report().contains("| " + best.name() + " |"), p.report());
  }

  @Test
  void aLayoutTheModelDoesNotAllowIsOutWithTheReason() {
    Planner.Plan p = Planner.plan(config(1, 1, 2), 8, 4, true, 4L << 30, CPU);
    Planner.Candidate tp4 = p.candidates().stream().filter(c -> c.tp() == 4).findFirst().orElseThrow();
    assertTrue(tp4.out().contains("tp=4 does not divide the 2 attention heads"), tp4.out());
    assertTrue(p.chosen().tp() <= 2);
  }

  @Test
  void aRequestedLayoutThatDoesNotFitNamesWhatItNeedsAndWhatWouldFit() {
    TrainConfig cfg = config(2, 1, 4);
    long oneWorker = Planner.plan(config(1, 1, 4), 8, 1, false, 0, CPU).chosen().cost().totalBytes();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Planner.plan(cfg, 8, 2, false, oneWorker / 4, CPU));
    assertTrue(e.getMessage().contains("layout dp=2 tp=1 does not fit: needs"), e.getMessage());
    assertTrue(e.getMessage().contains("per worker, a worker has"), e.getMessage());
    IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
        () -> Planner.plan(cfg, 8, 4, false, 4L << 30, CPU));
    assertTrue(count.getMessage().contains("not the 4 of --workers"), count.getMessage());
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> Planner.plan(config(1, 1, 4), 8, 2, true, 1 << 20, CPU));
    assertTrue(none.getMessage().startsWith("no layout of 2 workers fits this model"), none.getMessage());
  }

  /**
   * On GPUs one worker's tensors live in one arena of at most 2 GiB, whatever the GPU holds: the
   * 12 x 768 model at batch 8 x 256 (which ran out of it on an H200) is refused on one worker up front,
   * and fits tensor-parallel over two (as it trained there).
   */
  @Test
  void onGpusAModelTooBigForOneWorkersArenaIsRefusedAndFitsTensorParallel() {
    Map<String, Object> o = new HashMap<>();
    o.put("n-layer", 12);
    o.put("n-head", 16);
    o.put("n-embd", 768);
    o.put("block-size", 256);
    o.put("batch-size", 8);
    o.put("device", "gpu");
    TrainConfig big = TrainConfigs.resolve(null, o);
    CostModel.Machine gpu = CostModel.Machine.gpuPerWorker(16, 2);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Planner.plan(big, 65, 1, false, 64L << 30, gpu));
    assertTrue(e.getMessage().contains("of device memory per worker, one worker's OpenCL arena holds at most 2.00 GB"),
        e.getMessage());
    IllegalArgumentException onPocl = assertThrows(IllegalArgumentException.class,
        () -> Planner.plan(TrainConfigs.with(big, Map.of("device", "cpu")), 65, 1, false, 64L << 30, CPU));
    assertTrue(onPocl.getMessage().contains("OpenCL arena holds at most 2.00 GB"), "pocl has the same arena: "
        + onPocl.getMessage());
    Planner.Plan p = Planner.plan(TrainConfigs.with(big, Map.of("tp", 2)), 65, 2, false, 64L << 30, gpu);
    assertTrue(p.chosen().cost().fitsOneArena(), p.reasoning().toString());
    assertTrue(p.reasoning().stream().anyMatch(l -> l.contains("device/wkr")), p.reasoning().toString());
  }
}
