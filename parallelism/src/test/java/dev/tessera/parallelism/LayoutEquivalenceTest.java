package dev.tessera.parallelism;


import dev.tessera.comm.Group;
import dev.tessera.comm.LocalFabric;
import dev.tessera.model.layers.LayerFactory;
import dev.tessera.model.optim.AdamW;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Layouts tp2, tp4 (the vocabulary of 11 padded to 12: vocab-parallel embedding and cross-entropy
 * with a padded shard), tp2 and tp4 with sequence parallelism (+sp: norms, residuals and
 * embeddings on each worker's quarter or half of the tokens), dp2, dp2 x tp2 with and without sp, dp2 x tp2, and dp2 and dp2 x tp2 with ZeRO-1 (ranks as threads, in-JVM
 * fabric), three AdamW steps over the
 * same global batches: the loss of every step, every gradient of the last step and every final
 * parameter equal one worker's within 1e-5 relative (a shard against the same slice).
 */
class LayoutEquivalenceTest {
  @ParameterizedTest(name = "layout {0}")
  @ValueSource(strings = {"tp2", "tp2+sp", "tp4", "tp4+sp", "dp2", "dp2xtp2", "dp2xtp2+sp", "dp2+zero1",
      "dp2xtp2+zero1"})
  void everyLayoutEqualsOneWorker(String layout) throws Exception {
    boolean zero = layout.endsWith("+zero1");
    boolean sp = layout.endsWith("+sp");
    String dims = layout.replace("+zero1", "").replace("+sp", "");
    int dpSize = dims.startsWith("dp") ? dims.charAt(2) - '0' : 1;
    int tpSize = dims.contains("tp") ? dims.charAt(dims.length() - 1) - '0' : 1;
    ParallelDims mesh = new ParallelDims(dpSize, 1, tpSize, 1, 1);
    LayoutRun.Result one = LayoutRun.run(LayerFactory.LOCAL);
    LocalFabric fabric = new LocalFabric(mesh.world());
    ExecutorService pool = Executors.newFixedThreadPool(mesh.world());
    List<Future<LayoutRun.Result>> futures = new ArrayList<>();
    try {
      for (int r = 0; r < mesh.world(); r++) {
        var t = fabric.transport(r);
        int rank = r;
        Group tpGroup = new Group(t, mesh.groupId(Axis.TP, r), mesh.group(Axis.TP, r), Duration.ofSeconds(30));
        Group dpGroup = new Group(t, mesh.groupId(Axis.DP, r), mesh.group(Axis.DP, r), Duration.ofSeconds(30));
        futures.add(pool.submit(() -> LayoutRun.run(tpSize == 1 ? LayerFactory.LOCAL : new TensorParallel(tpGroup, sp),
            dpSize == 1 ? null : new DataParallel(dpGroup), zero)));
      }
      for (int r = 0; r < mesh.world(); r++) {
        LayoutRun.Result got = futures.get(r).get(60, TimeUnit.SECONDS);
        LayoutRun.assertEquivalent(layout, r, one, got, mesh.coord(r, Axis.TP), tpSize, zero);
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
