package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.check.Numerics;
import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The vocabulary-shard ops against the whole-vocabulary ones: a vocabulary of 10 in shards [0, 4),
 * [4, 8), [8, 12) (the last padded past the vocabulary, as tensor parallelism pads it). The shards'
 * embeddings sum to the whole one, their table gradients are its slices, the shards' log-sum-exps
 * and target logits give the whole loss, and their logit gradients (given the whole log-sum-exp)
 * are its slices. A target of -1 is ignored everywhere.
 */
class VocabShardOpsTest {
  private static final int V = 10;
  private static final int SHARD = 4;
  private static final int C = 3;
  private static final int N = 7;

  static Stream<Backend> backends() {
    return Stream.of(new ReferenceBackend(), TestBackends.openCl());
  }

  @ParameterizedTest
  @MethodSource("backends")
  void shardsAddUpToTheWholeVocabulary(Backend be) {
    Random rnd = new Random(11);
    int[] ids = {0, 3, 4, 9, 7, 8, 2};
    int[] targets = {1, 4, -1, 9, 8, 0, 5};
    float[] table = Numerics.uniform(rnd, V * C, -1, 1);
    float[] dOut = Numerics.uniform(rnd, N * C, -1, 1);
    float[] logits = Numerics.uniform(rnd, N * V, -3, 3);
    int shards = (V + SHARD - 1) / SHARD;
    float[] padded = java.util.Arrays.copyOf(table, shards * SHARD * C);
    float[] paddedLogits = new float[N * shards * SHARD];
    for (int r = 0; r < N; r++) {
      for (int j = 0; j < shards * SHARD; j++) {
        paddedLogits[r * shards * SHARD + j] = j < V ? logits[r * V + j] : -1e30f; // padded classes never win
      }
    }
    try (Tensor tIds = be.fromInts(ids, N); Tensor tTargets = be.fromInts(targets, N);
        Tensor tTable = be.fromArray(table, V, C); Tensor out = be.zeros(N, C); Tensor dTable = be.zeros(V, C);
        Tensor tdOut = be.fromArray(dOut, N, C); Tensor tLogits = be.fromArray(logits, N, V);
        Tensor losses = be.zeros(N); Tensor lse = be.zeros(N); Tensor dLogits = be.zeros(N, V)) {
      be.embedding(out, tTable, tIds);
      be.embeddingBackward(dTable, tdOut, tIds);
      be.crossEntropy(losses, lse, tLogits, tTargets);
      be.crossEntropyBackward(dLogits, tLogits, tTargets, lse, 0.5f);
      float[] wantOut = be.read(out);
      float[] wantDTable = be.read(dTable);
      float[] wantLosses = be.read(losses);
      float[] wantLse = be.read(lse);
      float[] wantDLogits = be.read(dLogits);

      float[] sumOut = new float[N * C];
      double[] lseSum = new double[N];
      double[] targetLogit = new double[N];
      float[][] shardLse = new float[shards][];
      for (int s = 0; s < shards; s++) {
        int first = s * SHARD;
        float[] rows = java.util.Arrays.copyOfRange(padded, first * C, (first + SHARD) * C);
        float[] z = new float[N * SHARD];
        for (int r = 0; r < N; r++) {
          System.arraycopy(paddedLogits, r * shards * SHARD + first, z, r * SHARD, SHARD);
        }
        try (Tensor part = be.fromArray(rows, SHARD, C); Tensor o = be.zeros(N, C); Tensor dPart = be.zeros(SHARD, C);
            Tensor zs = be.fromArray(z, N, SHARD); Tensor ls = be.zeros(N); Tensor lses = be.zeros(N)) {
          be.embeddingShard(o, part, tIds, first);
          be.embeddingShardBackward(dPart, tdOut, tIds, first);
          float[] got = be.read(o);
          for (int i = 0; i < got.length; i++) {
            sumOut[i] += got[i];
          }
          float[] dGot = be.read(dPart);
          for (int v = first; v < Math.min(V, first + SHARD); v++) {
            for (int c = 0; c < C; c++) {
              close(wantDTable[v * C + c], dGot[(v - first) * C + c], "dTable[" + v + "," + c + "]");
            }
          }
          be.crossEntropyShard(ls, lses, zs, tTargets, first);
          float[] l = be.read(ls);
          shardLse[s] = be.read(lses);
          for (int r = 0; r < N; r++) {
            lseSum[r] += Math.exp(shardLse[s][r]);
            if (targets[r] >= first && targets[r] < first + SHARD) {
              targetLogit[r] = shardLse[s][r] - l[r];
            } else {
              close(0f, l[r], "shard " + s + " loss of a target it does not hold, row " + r);
            }
          }
        }
      }
      for (int i = 0; i < N * C; i++) {
        close(wantOut[i], sumOut[i], "embedding " + i);
      }
      float[] wholeLse = new float[N];
      for (int r = 0; r < N; r++) {
        wholeLse[r] = (float) Math.log(lseSum[r]);
        close(wantLse[r], wholeLse[r], "lse row " + r);
        if (targets[r] >= 0) {
          close(wantLosses[r], (float) (wholeLse[r] - targetLogit[r]), "loss row " + r);
        }
      }
      try (Tensor gLse = be.fromArray(wholeLse, N)) {
        for (int s = 0; s < shards; s++) {
          int first = s * SHARD;
          float[] z = new float[N * SHARD];
          for (int r = 0; r < N; r++) {
            System.arraycopy(paddedLogits, r * shards * SHARD + first, z, r * SHARD, SHARD);
          }
          try (Tensor zs = be.fromArray(z, N, SHARD); Tensor dz = be.zeros(N, SHARD)) {
            be.crossEntropyShardBackward(dz, zs, tTargets, gLse, 0.5f, first);
            float[] got = be.read(dz);
            for (int r = 0; r < N; r++) {
              for (int j = 0; j < SHARD; j++) {
                float want = first + j < V ? wantDLogits[r * V + first + j] : 0f;
                close(want, got[r * SHARD + j], "dLogits[" + r + "," + (first + j) + "] (shard " + s + ")");
              }
            }
          }
        }
      }
    }
  }

  private static void close(float want, float got, String what) {
    assertTrue(Math.abs(want - got) <= 1e-5 * Math.max(1, Math.abs(want)), what + ": want " + want + ", got " + got);
  }
}
