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

  /**
   * The 1-bit wire format, written out plainly: per block of 2048 a little-endian fp32 mean magnitude,
   * then bit i of byte i / 8 set where element i is below zero. The codec's byte-at-a-time loops must
   * give these bytes and decode them to +-scale, for lengths off the byte and block boundaries, -0 and
   * exact zeros (which are not below zero) included.
   */
  @Test
  void oneBitBytesAreTheSignsAndBlockMeansOfTheFormat() {
    for (int n : new int[] {1, 7, 8, 13, 2048, 2049, 5000}) {
      float[] x = gaussian(n, n + 3, 2f);
      x[0] = -0f;
      x[x.length - 1] = 0f;
      int off = 3;
      int blocks = (n + Codecs.ONE_BIT_BLOCK - 1) / Codecs.ONE_BIT_BLOCK;
      java.nio.ByteBuffer want = java.nio.ByteBuffer.allocate(4 * blocks + (n + 7) / 8)
          .order(java.nio.ByteOrder.LITTLE_ENDIAN);
      float[] decoded = new float[n];
      for (int k = 0; k < blocks; k++) {
        int s = k * Codecs.ONE_BIT_BLOCK;
        int e = Math.min(n, s + Codecs.ONE_BIT_BLOCK);
        double sum = 0;
        for (int i = s; i < e; i++) {
          sum += Math.abs(x[off + i]);
        }
        float scale = (float) (sum / (e - s));
        want.putFloat(scale);
        for (int i = s; i < e; i++) {
          decoded[i] = x[off + i] < 0 ? -scale : scale;
        }
      }
      byte[] signs = new byte[(n + 7) / 8];
      for (int i = 0; i < n; i++) {
        if (x[off + i] < 0) {
          signs[i / 8] |= (byte) (1 << (i % 8));
        }
      }
      want.put(signs);
      byte[] got = Codecs.ONE_BIT.encode(x, off, n);
      assertArrayEquals(want.array(), got, "n=" + n);
      float[] y = new float[n + 2];
      Codecs.ONE_BIT.decode(got, y, 1, n);
      assertArrayEquals(decoded, Arrays.copyOfRange(y, 1, n + 1), "n=" + n);
      assertEquals(0f, y[0]);
      assertEquals(0f, y[n + 1]);
    }
  }

  /** bf16 is the top half of fp32 rounded to nearest even, little-endian; NaN stays NaN (quiet). */
  @Test
  void bf16BytesAreTheRoundedTopHalves() {
    float[] x = gaussian(9, 1001, 5f);
    x[0] = Float.NaN;
    x[1] = -0f;
    x[2] = Float.intBitsToFloat(0x3F808000); // exactly half-way, even below: rounds down
    x[3] = Float.intBitsToFloat(0x3F818000); // half-way, odd below: rounds up
    x[4] = Float.NEGATIVE_INFINITY;
    byte[] b = Codecs.BF16.encode(x, 0, x.length);
    float[] y = new float[x.length];
    Codecs.BF16.decode(b, y, 0, x.length);
    for (int i = 0; i < x.length; i++) {
      int bits = Float.floatToRawIntBits(x[i]);
      int top = (b[2 * i] & 0xFF) | (b[2 * i + 1] & 0xFF) << 8;
      if (Float.isNaN(x[i])) {
        assertTrue(Float.isNaN(y[i]));
        continue;
      }
      long exact = bits & 0xFFFFFFFFL;
      long down = exact >>> 16;
      long rest = exact & 0xFFFF;
      long want = rest > 0x8000 || (rest == 0x8000 && (down & 1) == 1) ? down + 1 : down;
      assertEquals(want & 0xFFFF, top, i + ": " + x[i]);
      assertEquals(Float.intBitsToFloat(top << 16), y[i], i + ": " + x[i]);
    }
    assertEquals(Float.intBitsToFloat(0x3F800000), y[2]);
    assertEquals(Float.intBitsToFloat(0x3F820000), y[3]);
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
