package dev.tessera.coordinator.run;

import dev.tessera.model.GptConfig;
import dev.tessera.parallelism.CostModel;
import dev.tessera.worker.TrainConfig;
import dev.tessera.worker.TrainConfigs;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Chooses or checks the layout of a launch: every dp x tp that uses the workers is a candidate; one
 * the model does not allow (tp must divide the heads, the width and the MLP width; dp the batch) is
 * out with the reason, and one whose predicted memory per worker ({@link CostModel}) exceeds a
 * worker's heap, or on OpenCL the one device arena a worker has (Aparapi's 2 GiB), does not fit. With {@code auto} the fastest predicted candidate that fits is
 * chosen; otherwise the requested layout must fit, and the error names the ones that would.
 */
final class Planner {
  /** A candidate layout, its prediction, and why it is out (null if it is not). */
  record Candidate(int dp, int tp, CostModel.Cost cost, String out) {
    String name() {
      return "dp" + dp + " tp" + tp;
    }
  }

  /**
   * The outcome: the config with the chosen layout, every candidate, the one chosen, and the
   * reasoning as text lines (for the log) and as a report section.
   */
  record Plan(TrainConfig config, List<Candidate> candidates, Candidate chosen, List<String> reasoning,
      String report) {
  }

  private Planner() {
  }

  /**
   * @param workers the workers to lay out
   * @param auto choose the layout, or check the one in {@code cfg}
   * @param budgetBytes what one worker may hold (its heap), or 0 not to check memory
   */
  static Plan plan(TrainConfig cfg, int vocab, int workers, boolean auto, long budgetBytes, CostModel.Machine m) {
    GptConfig gpt = TrainConfigs.gpt(cfg, vocab);
    boolean momentum = cfg.dpCompress().equals("momentum");
    CostModel.DpCodec codec = CostModel.DpCodec.of(cfg.dpCodec(), momentum);
    // OpenCL workers (GPU or pocl) keep their tensors in one arena; the Java backends have none.
    boolean openCl = m.gpu() || cfg.device().equals("cpu") || cfg.device().equals("auto");
    List<Candidate> all = new ArrayList<>();
    for (int tp = 1; tp <= workers; tp++) {
      if (workers % tp != 0) {
        continue;
      }
      int dp = workers / tp;
      String out = null;
      try {
        TrainConfigs.with(cfg, Map.of("dp", dp, "tp", tp, "sequence-parallel", cfg.sequenceParallel() && tp > 1));
      } catch (IllegalArgumentException e) {
        out = e.getMessage().replaceAll(" \\(a layout that fits.*\\)$", "").replaceAll("; a layout that fits.*$", "");
      }
      CostModel.Cost c = CostModel.of(gpt, dp, tp, cfg.sequenceParallel() && tp > 1, cfg.batchSize(), cfg.gradAccum(),
          codec, cfg.dpOverlap() && !momentum,
          dev.tessera.parallelism.DataParallel.bucketFloats(cfg.dpBucketMb()), m);
      if (out == null && openCl && !c.fitsOneArena()) {
        out = String.format(Locale.ROOT, "needs %s of device memory per worker, one worker's OpenCL arena holds at "
            + "most %s", size(c.deviceBytes()), size(CostModel.ARENA_LIMIT_BYTES));
      }
      if (out == null && budgetBytes > 0 && c.heapNeededBytes() > budgetBytes) {
        out = String.format(Locale.ROOT, "needs %s of heap per worker, a worker has %s", size(c.heapNeededBytes()),
            size(budgetBytes));
      }
      all.add(new Candidate(dp, tp, c, out));
    }
    Candidate chosen;
    if (auto) {
      chosen = all.stream().filter(c -> c.out() == null)
          .min((a, b) -> Double.compare(a.cost().stepSeconds(), b.cost().stepSeconds())).orElse(null);
      if (chosen == null) {
        throw new IllegalArgumentException("no layout of " + workers + " workers fits this model: " + reasons(all)
            + (m.gpu() ? "; use more workers (a GPU may hold several: worker r opens GPU r mod the GPUs), a larger "
                + "--tp or a smaller batch" : "; give the workers more memory (--worker-heap), use more workers, "
                + "or a smaller batch"));
      }
    } else {
      chosen = all.stream().filter(c -> c.dp() == cfg.dp() && c.tp() == cfg.tp()).findFirst().orElseThrow(() ->
          new IllegalArgumentException("the layout dp=" + cfg.dp() + " tp=" + cfg.tp() + " has " + cfg.workers()
              + " workers, not the " + workers + " of --workers; layouts of " + workers + ": " + fitting(all)));
      if (chosen.out() != null) {
        throw new IllegalArgumentException("layout dp=" + cfg.dp() + " tp=" + cfg.tp() + " does not fit: "
            + chosen.out() + "; layouts of " + workers + " workers that do: " + fitting(all));
      }
    }
    TrainConfig out = TrainConfigs.with(cfg, Map.of("dp", chosen.dp(), "tp", chosen.tp(),
        "sequence-parallel", cfg.sequenceParallel() && chosen.tp() > 1));
    List<String> lines = new ArrayList<>();
    lines.add(String.format(Locale.ROOT, "plan: %d workers, %,d parameters, global batch %d x %d tokens; a worker "
        + "has %s; the machine trains at ~%.0f GFLOP/s%s, collectives at %.2f GB/s", workers,
        CostModel.parameters(gpt), cfg.batchSize(), cfg.blockSize(), budgetBytes > 0 ? size(budgetBytes)
            : "memory not checked", m.gflops(), m.shared() ? " shared by the workers" : " per worker",
        m.bytesPerSecond() / 1e9));
    lines.add(String.format(Locale.ROOT, "  %-10s %12s %12s %11s %9s %10s %9s  %s", "layout", "heap needed",
        "device/wkr", "compute ms", "comm ms", "hidden ms", "step ms", "verdict"));
    for (Candidate c : all) {
      CostModel.Cost k = c.cost();
      lines.add(String.format(Locale.ROOT, "  %-10s %12s %12s %11.1f %9.1f %10.1f %9.1f  %s", c.name(),
          size(k.heapNeededBytes()), size(k.deviceBytes()), k.computeSeconds() * 1e3, k.commSeconds() * 1e3,
          k.hiddenSeconds() * 1e3, k.stepSeconds() * 1e3, c == chosen ? (auto ? "chosen: the fastest that fits" : "requested, fits")
              : c.out() == null ? "fits" : "out: " + c.out()));
    }
    return new Plan(out, List.copyOf(all), chosen, lines, report(all, chosen, auto));
  }

  private static String report(List<Candidate> all, Candidate chosen, boolean auto) {
    StringBuilder md = new StringBuilder((auto ? "Layout chosen by the planner (--auto)" : "Layout checked by the "
        + "planner") + ": **" + chosen.name() + "**. Predicted per worker and step:\n\n"
        + "| layout | heap needed/worker | device/worker | compute ms | comm ms | hidden ms | step ms | verdict |\n"
        + "|---|---|---|---|---|---|---|---|\n");
    for (Candidate c : all) {
      CostModel.Cost k = c.cost();
      md.append(String.format(Locale.ROOT, "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %s |%n", c.name(),
          size(k.heapNeededBytes()), size(k.deviceBytes()), k.computeSeconds() * 1e3, k.commSeconds() * 1e3,
          k.hiddenSeconds() * 1e3, k.stepSeconds() * 1e3, c == chosen ? "chosen" : c.out() == null ? "fits" : c.out().replace('|', '/')));
    }
    return md.toString();
  }

  private static String fitting(List<Candidate> all) {
    List<String> ok = all.stream().filter(c -> c.out() == null).map(Candidate::name).toList();
    return ok.isEmpty() ? "none (" + reasons(all) + ")" : String.join(", ", ok);
  }

  private static String reasons(List<Candidate> all) {
    return String.join("; ", all.stream().map(c -> c.name() + ": " + c.out()).toList());
  }

  static String size(long bytes) {
    return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GB", bytes / (double) (1L << 30))
        : String.format(Locale.ROOT, "%.0f MB", bytes / (double) (1L << 20));
  }
}
