package dev.tessera.parallelism;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.model.GptConfig;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ParallelDimsTest {
  /** nanoGPT's GPU config: 6 heads, 384 wide, MLP 1536, vocabulary 65. */
  private static final GptConfig MODEL = new GptConfig(65, 256, 6, 6, 384, false, GptConfig.Norm.LAYERNORM,
      GptConfig.Mlp.GELU, GptConfig.Positions.LEARNED, 0, 10000f);

  @Test
  void ranksAndCoordinatesRoundTripWithTpFastest() {
    ParallelDims d = new ParallelDims(2, 3, 2, 1, 1); // dp pp tp cp ep
    assertEquals(12, d.world());
    for (int r = 0; r < d.world(); r++) {
      assertEquals(r, d.rank(d.coords(r)));
    }
    assertEquals(1, d.coord(1, Axis.TP));
    assertEquals(1, d.coord(2, Axis.DP));
    assertEquals(1, d.coord(4, Axis.PP));
  }

  @Test
  void groupsPartitionTheRanksAlongEveryAxis() {
    ParallelDims d = new ParallelDims(2, 2, 2, 1, 1);
    assertArrayEquals(new int[] {0, 1}, d.group(Axis.TP, 1));
    assertArrayEquals(new int[] {1, 3}, d.group(Axis.DP, 1));
    assertArrayEquals(new int[] {3, 7}, d.group(Axis.PP, 3));
    for (Axis a : Axis.values()) {
      List<int[]> groups = d.groups(a);
      assertEquals(d.world() / d.size(a), groups.size(), a.flag());
      Set<Integer> seen = new HashSet<>();
      Set<Integer> ids = new HashSet<>();
      for (int[] g : groups) {
        assertEquals(d.size(a), g.length);
        for (int r : g) {
          assertTrue(seen.add(r), a.flag() + ": rank " + r + " in two groups");
          ids.add(d.groupId(a, r));
        }
      }
      assertEquals(d.world(), seen.size());
      assertEquals(groups.size(), ids.size(), a.flag() + ": one id per group");
    }
  }

  @Test
  void theMeshMustFitTheWorkersAndTheModelAndSaysWhatWould() {
    ParallelDims ok = ParallelDims.of(2, 1, 2, 1, 1, 4, MODEL);
    assertEquals("dp=2 pp=1 tp=2 cp=1 ep=1", ok.toString());
    IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
        () -> ParallelDims.of(2, 1, 2, 1, 1, 6, MODEL));
    assertTrue(count.getMessage().contains("4 ranks but there are 6 workers")
        && count.getMessage().contains("dp=1 tp=6"), count.getMessage());
    IllegalArgumentException heads = assertThrows(IllegalArgumentException.class,
        () -> ParallelDims.of(1, 1, 4, 1, 1, 4, MODEL));
    assertTrue(heads.getMessage().contains("tp=4 does not divide the 6 attention heads")
        && heads.getMessage().contains("tp can be [1, 2, 3, 6]") && heads.getMessage().contains("dp=2 tp=2"),
        heads.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ParallelDims.of(1, 7, 1, 1, 1, 7, MODEL));
    assertThrows(IllegalArgumentException.class, () -> new ParallelDims(0, 1, 1, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> ParallelDims.of(1, 1, 1, 2, 1, 2, MODEL));
  }

  @Test
  void theVocabularyIsPaddedToAMultipleOfTp() {
    assertEquals(68, new ParallelDims(1, 1, 4, 1, 1).paddedVocab(65));
    assertEquals(65, new ParallelDims(1, 1, 1, 1, 1).paddedVocab(65));
    assertEquals(50260, new ParallelDims(1, 1, 4, 1, 1).paddedVocab(50257));
  }
}
