package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CodecsTest {
  private static float[] gaussian(long seed, int n, float scale) {
    Random r = new Random(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) r.nextGaussian() * scale;
    }
    return x;
  }

  private static float[] roundTrip(Codec c, float[] x) {
    float[] y = new float[x.length];
    c.decode(c.encode(x, 0, x.length), y, 0, x.length);
    return y;
  }

  @Test
  void fp32IsExactAndBf16KeepsEightBits() {
    float[] x = gaussian(1, 10_001, 3f);
    x[5] = 0f;
    x[6] = -0f;
    x[7] = 1e-30f;
    assertArrayEquals(x, roundTrip(Codecs.FP32, x));
    float[] y = roundTrip(Codecs.BF16, x);
    for (int i = 0; i < x.length; i++) {
      assertTrue(Math.abs(y[i] - x[i]) <= Math.abs(x[i]) * 0x1p-8f, i + ": " + x[i] + " -> " + y[i]);
    }
    assertEquals(1f, roundTrip(Codecs.BF16, new float[] {1f})[0]);
    assertTrue(Float.isNaN(roundTrip(Codecs.BF16, new float[] {Float.NaN})[0]));
  }

  @Test
  void int8ErrsByAtMostHalfAStepOfItsBlock() {
    float[] x = gaussian(2, 3 * Codecs.INT8_BLOCK + 17, 1f);
    x[100] = 40f; // one block with a large scale
    float[] y = roundTrip(Codecs.INT8, x);
    for (int s = 0; s < x.length; s += Codecs.INT8_BLOCK) {
      int e = Math.min(x.length, s + Codecs.INT8_BLOCK);
      float max = 0f;
      for (int i = s; i < e; i++) {
        max = Math.max(max, Math.abs(x[i]));
      }
      for (int i = s; i < e; i++) {
        assertTrue(Math.abs(y[i] - x[i]) <= max / 127f * 0.5001f, i + ": " + x[i] + " -> " + y[i]);
      }
    }
    assertArrayEquals(new float[7], roundTrip(Codecs.INT8, new float[7]));
  }

  @Test
  void fp8E4m3KeepsThreeMantissaBitsWithinAGroup() {
    float[] x = gaussian(3, 5 * Codecs.FP8_GROUP + 3, 0.01f);
    float[] y = roundTrip(Codecs.FP8, x);
    for (int s = 0; s < x.length; s += Codecs.FP8_GROUP) {
      int e = Math.min(x.length, s + Codecs.FP8_GROUP);
      float max = 0f;
      for (int i = s; i < e; i++) {
        max = Math.max(max, Math.abs(x[i]));
      }
      float scale = max / Codecs.FP8_MAX;
      for (int i = s; i < e; i++) {
        float bound = Math.abs(x[i]) * 0x1p-4f + scale * 0x1p-10f;
        assertTrue(Math.abs(y[i] - x[i]) <= bound * 1.0001f, i + ": " + x[i] + " -> " + y[i]);
      }
    }
    // Every e4m3 code decodes to a value that encodes back to the same code (448 the largest).
    for (int b = 0; b < 256; b++) {
      if ((b & 0x7F) == 0x7F) {
        continue; // NaN codes
      }
      float v = Codecs.Fp8.fromE4m3((byte) b);
      assertEquals((byte) b, Codecs.Fp8.toE4m3(v), "code " + b + " = " + v);
    }
    assertEquals(448f, Codecs.Fp8.fromE4m3(Codecs.Fp8.toE4m3(1e9f)));
  }

  @Test
  void wireSizesMeetTheBars() {
    int n = 4 << 20; // a 16 MiB gradient
    float[] x = gaussian(4, n, 1f);
    double fp32 = 4.0 * n;
    double onebit = Codecs.ONE_BIT.encode(x, 0, n).length;
    double fp8 = Codecs.FP8.encode(x, 0, n).length;
    assertTrue(onebit <= fp32 / 25, "1-bit: " + fp32 / onebit + "x");
    assertTrue(fp8 <= fp32 / 3.5, "fp8: " + fp32 / fp8 + "x");
    assertEquals(2.0 * n, Codecs.BF16.encode(x, 0, n).length);
  }

  @Test
  void oneBitSendsSignsAndTheMeanMagnitude() {
    float[] x = {1f, -3f, 2f, -2f};
    float[] y = roundTrip(Codecs.ONE_BIT, x);
    assertArrayEquals(new float[] {2f, -2f, 2f, -2f}, y);
  }

  @Test
  void topKKeepsTheLargestMagnitudes() {
    float[] x = gaussian(5, 1000, 1f);
    float[] y = roundTrip(Codecs.topK(0.05), x);
    float[] mags = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      mags[i] = Math.abs(x[i]);
    }
    Arrays.sort(mags);
    float threshold = mags[x.length - 50];
    int kept = 0;
    for (int i = 0; i < x.length; i++) {
      if (y[i] != 0f) {
        kept++;
        assertEquals(x[i], y[i]);
        assertTrue(Math.abs(x[i]) >= threshold);
      }
    }
    assertEquals(50, kept);
  }

  @Test
  void withErrorFeedbackWhatWasSentTracksTheTrueSum() {
    int n = 3000;
    for (Codec c : List.of(Codecs.ONE_BIT, Codecs.topK(0.01), Codecs.INT8, Codecs.FP8)) {
      ErrorFeedback ef = new ErrorFeedback();
      double[] trueSum = new double[n];
      double[] sentSum = new double[n];
      float[] sent = new float[n];
      double worstLate = 0;
      for (int t = 0; t < 400; t++) {
        float[] g = gaussian(100 + t, n, 1f);
        ef.encode("w", c, g, 0, n, sent);
        double worst = 0;
        for (int i = 0; i < n; i++) {
          trueSum[i] += g[i];
          sentSum[i] += sent[i];
          worst = Math.max(worst, Math.abs(trueSum[i] - sentSum[i]));
        }
        if (t >= 200) {
          worstLate = Math.max(worstLate, worst);
        }
        // The gap is exactly the residual: sum(sent) = sum(true) - residual.
        float[] r = ef.residual("w", n);
        for (int i = 0; i < n; i += 97) {
          assertEquals(trueSum[i] - sentSum[i], r[i], 1e-3, c + " at step " + t);
        }
      }
      // Bounded: it does not grow with the number of steps (the true sum grows like sqrt(t)).
      assertTrue(worstLate < 30, c + ": gap " + worstLate);
    }
  }

  @Test
  void badPayloadsAreRejected() {
    float[] out = new float[10];
    assertThrows(CommException.BadFrame.class, () -> Codecs.INT8.decode(new byte[5], out, 0, 10));
    byte[] topk = Codecs.topK(0.5).encode(new float[10], 0, 10);
    topk[4] = 99; // an index outside the tensor
    assertThrows(CommException.BadFrame.class, () -> Codecs.topK(0.5).decode(topk, out, 0, 10));
    assertThrows(IllegalArgumentException.class, () -> Codecs.byName("zip"));
    assertEquals(Codec.FP8, Codecs.byName("fp8").id());
  }
}
