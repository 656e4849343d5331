package dev.tessera.comm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The codecs: fp32 (raw); bf16 (round to nearest even); int8 with one scale per block of
 * {@value #INT8_BLOCK}; fp8 e4m3 with one scale per group of {@value #FP8_GROUP} (as in COAT); one
 * sign bit per element with one scale (the mean magnitude) per block of {@value #ONE_BIT_BLOCK} (as
 * in 1-bit Adam); top-k by magnitude, as (index, value) pairs (as in Deep Gradient Compression).
 * Scales are fp32. The last two need {@link ErrorFeedback} to converge.
 */
public final class Codecs {
  public static final int INT8_BLOCK = 256;
  public static final int FP8_GROUP = 128;
  public static final int ONE_BIT_BLOCK = 2048;
  /** Largest finite e4m3 value. */
  static final float FP8_MAX = 448f;

  public static final Codec FP32 = new Fp32();
  public static final Codec BF16 = new Bf16();
  public static final Codec INT8 = new Int8();
  public static final Codec FP8 = new Fp8();
  public static final Codec ONE_BIT = new OneBit();

  private Codecs() {
  }

  /** Top-k keeping a fraction of the elements (at least one). */
  public static Codec topK(double fraction) {
    return new TopK(fraction);
  }

  /** The decoder for a frame's codec byte. */
  public static Codec byId(byte id) {
    return switch (id) {
      case Codec.FP32 -> FP32;
      case Codec.BF16 -> BF16;
      case Codec.INT8 -> INT8;
      case Codec.FP8 -> FP8;
      case Codec.ONE_BIT -> ONE_BIT;
      case Codec.TOP_K -> topK(0.01);
      default -> throw new CommException.BadFrame("unknown codec " + id);
    };
  }

  /** By name, as in configuration: fp32, bf16, int8, fp8, onebit, topk (1%) or topk:FRACTION. */
  public static Codec byName(String name) {
    String n = name.trim().toLowerCase(java.util.Locale.ROOT);
    if (n.startsWith("topk")) {
      return topK(n.startsWith("topk:") ? Double.parseDouble(n.substring(5)) : 0.01);
    }
    return switch (n) {
      case "fp32" -> FP32;
      case "bf16" -> BF16;
      case "int8" -> INT8;
      case "fp8" -> FP8;
      case "onebit", "1bit" -> ONE_BIT;
      default -> throw new IllegalArgumentException("unknown codec '" + name
          + "'; known: fp32, bf16, int8, fp8, onebit, topk, topk:FRACTION");
    };
  }

  /** Little-endian floats and shorts at a byte offset of an array (no buffer's position to keep). */
  private static final VarHandle F32 = MethodHandles.byteArrayViewVarHandle(float[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle I16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);

  private static ByteBuffer le(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void expect(byte[] b, int bytes, Codec c, int len) {
    if (b.length != bytes) {
      throw new CommException.BadFrame(c.name() + " payload of " + b.length + " bytes for " + len
          + " floats; expected " + bytes);
    }
  }

  private abstract static class Base implements Codec {
    private final byte id;
    private final String name;

    Base(byte id, String name) {
      this.id = id;
      this.name = name;
    }

    @Override
    public byte id() {
      return id;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public boolean lossless() {
      return false;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static final class Fp32 extends Base {
    Fp32() {
      super(Codec.FP32, "fp32");
    }

    @Override
    public boolean lossless() {
      return true;
    }

    @Override
    public long encodedBytes(int len) {
      return 4L * len;
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      return Floats.toBytes(x, off, len);
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      Floats.fromBytes(b, out, off, len);
    }
  }

  static final class Bf16 extends Base {
    Bf16() {
      super(Codec.BF16, "bf16");
    }

    static short toBf16(float f) {
      int bits = Float.floatToRawIntBits(f);
      if (Float.isNaN(f)) {
        return (short) ((bits >>> 16) | 0x40);
      }
      return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    @Override
    public long encodedBytes(int len) {
      return 2L * len;
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      byte[] b = new byte[2 * len];
      for (int i = 0; i < len; i++) {
        I16.set(b, 2 * i, toBf16(x[off + i]));
      }
      return b;
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      expect(b, 2 * len, this, len);
      for (int i = 0; i < len; i++) {
        out[off + i] = Float.intBitsToFloat((short) I16.get(b, 2 * i) << 16);
      }
    }
  }

  static final class Int8 extends Base {
    Int8() {
      super(Codec.INT8, "int8");
    }

    static int bytes(int len) {
      return len + 4 * ((len + INT8_BLOCK - 1) / INT8_BLOCK);
    }

    @Override
    public long encodedBytes(int len) {
      return bytes(len);
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      byte[] b = new byte[bytes(len)];
      ByteBuffer bb = le(b);
      for (int s = 0; s < len; s += INT8_BLOCK) {
        int e = Math.min(len, s + INT8_BLOCK);
        float max = 0f;
        for (int i = s; i < e; i++) {
          max = Math.max(max, Math.abs(x[off + i]));
        }
        float scale = max / 127f;
        bb.putFloat(scale);
        float inv = scale == 0f ? 0f : 1f / scale;
        for (int i = s; i < e; i++) {
          bb.put((byte) Math.max(-127, Math.min(127, Math.round(x[off + i] * inv))));
        }
      }
      return b;
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      expect(b, bytes(len), this, len);
      ByteBuffer bb = le(b);
      for (int s = 0; s < len; s += INT8_BLOCK) {
        int e = Math.min(len, s + INT8_BLOCK);
        float scale = bb.getFloat();
        for (int i = s; i < e; i++) {
          out[off + i] = bb.get() * scale;
        }
      }
    }
  }

  static final class Fp8 extends Base {
    Fp8() {
      super(Codec.FP8, "fp8-e4m3");
    }

    static int bytes(int len) {
      return len + 4 * ((len + FP8_GROUP - 1) / FP8_GROUP);
    }

    /** e4m3 (bias 7, no infinities, 448 the largest finite) nearest to v, |v| <= 448. */
    static byte toE4m3(float v) {
      int sign = v < 0 || (v == 0f && 1f / v < 0) ? 0x80 : 0;
      float a = Math.min(Math.abs(v), FP8_MAX);
      if (a == 0f || Float.isNaN(a)) {
        return (byte) sign;
      }
      int e = Math.max(Math.getExponent(a), -6); // below 2^-6: subnormals, step 2^-9
      int q = Math.round(Math.scalb(a, 3 - e)); // mantissa with the implicit bit, 8..16 (0..8 subnormal)
      if (q >= 16) {
        e++;
        q = 8;
      }
      if (q < 8) { // subnormal
        return (byte) (sign | q);
      }
      int biased = e + 7;
      if (biased > 15 || (biased == 15 && q > 14)) {
        return (byte) (sign | 0x7E); // 448
      }
      return (byte) (sign | biased << 3 | (q - 8));
    }

    static float fromE4m3(byte b) {
      int exp = (b >> 3) & 15;
      int m = b & 7;
      float a = exp == 0 ? Math.scalb((float) m, -9) : Math.scalb((float) (8 + m), exp - 10);
      return (b & 0x80) != 0 ? -a : a;
    }

    @Override
    public long encodedBytes(int len) {
      return bytes(len);
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      byte[] b = new byte[bytes(len)];
      ByteBuffer bb = le(b);
      for (int s = 0; s < len; s += FP8_GROUP) {
        int e = Math.min(len, s + FP8_GROUP);
        float max = 0f;
        for (int i = s; i < e; i++) {
          max = Math.max(max, Math.abs(x[off + i]));
        }
        float scale = max / FP8_MAX;
        bb.putFloat(scale);
        float inv = scale == 0f ? 0f : 1f / scale;
        for (int i = s; i < e; i++) {
          bb.put(toE4m3(x[off + i] * inv));
        }
      }
      return b;
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      expect(b, bytes(len), this, len);
      ByteBuffer bb = le(b);
      for (int s = 0; s < len; s += FP8_GROUP) {
        int e = Math.min(len, s + FP8_GROUP);
        float scale = bb.getFloat();
        for (int i = s; i < e; i++) {
          out[off + i] = fromE4m3(bb.get()) * scale;
        }
      }
    }
  }

  static final class OneBit extends Base {
    OneBit() {
      super(Codec.ONE_BIT, "onebit");
    }

    static int bytes(int len) {
      int blocks = (len + ONE_BIT_BLOCK - 1) / ONE_BIT_BLOCK;
      return 4 * blocks + (len + 7) / 8;
    }

    @Override
    public long encodedBytes(int len) {
      return bytes(len);
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      byte[] b = new byte[bytes(len)];
      int blocks = (len + ONE_BIT_BLOCK - 1) / ONE_BIT_BLOCK;
      for (int k = 0; k < blocks; k++) {
        int s = k * ONE_BIT_BLOCK;
        int e = Math.min(len, s + ONE_BIT_BLOCK);
        double sum = 0;
        for (int i = s; i < e; i++) {
          sum += Math.abs(x[off + i]);
        }
        F32.set(b, 4 * k, (float) (sum / (e - s)));
      }
      // A byte of signs at a time, without a branch per element: signs are random, and a mispredicted
      // branch each made this 5x slower.
      int bits = 4 * blocks;
      int whole = len >>> 3;
      for (int j = 0; j < whole; j++) {
        int i = off + 8 * j;
        b[bits + j] = (byte) (negative(x[i]) | negative(x[i + 1]) << 1 | negative(x[i + 2]) << 2
            | negative(x[i + 3]) << 3 | negative(x[i + 4]) << 4 | negative(x[i + 5]) << 5
            | negative(x[i + 6]) << 6 | negative(x[i + 7]) << 7);
      }
      for (int i = 8 * whole; i < len; i++) {
        b[bits + (i >> 3)] |= (byte) (negative(x[off + i]) << (i & 7));
      }
      return b;
    }

    /** 1 for a value below zero (not -0, not NaN), else 0. */
    private static int negative(float v) {
      return v < 0 ? 1 : 0;
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      expect(b, bytes(len), this, len);
      int blocks = (len + ONE_BIT_BLOCK - 1) / ONE_BIT_BLOCK;
      int bits = 4 * blocks;
      for (int k = 0; k < blocks; k++) {
        int scale = Float.floatToRawIntBits((float) F32.get(b, 4 * k));
        int s = k * ONE_BIT_BLOCK;
        int e = Math.min(len, s + ONE_BIT_BLOCK);
        for (int i = s; i < e; i++) { // the sign bit set is -scale: what negation does
          out[off + i] = Float.intBitsToFloat(scale ^ ((b[bits + (i >> 3)] >> (i & 7)) & 1) << 31);
        }
      }
    }
  }

  static final class TopK extends Base {
    private final double fraction;

    TopK(double fraction) {
      super(Codec.TOP_K, "topk");
      if (!(fraction > 0 && fraction <= 1)) {
        throw new IllegalArgumentException("top-k fraction must be in (0, 1], got " + fraction);
      }
      this.fraction = fraction;
    }

    private int kept(int len) {
      return (int) Math.min(len, Math.max(1, Math.ceil(fraction * len)));
    }

    @Override
    public long encodedBytes(int len) {
      return 4 + 8L * (len == 0 ? 0 : kept(len));
    }

    @Override
    public byte[] encode(float[] x, int off, int len) {
      int k = kept(len);
      if (len == 0) {
        return new byte[4];
      }
      float[] mags = new float[len];
      for (int i = 0; i < len; i++) {
        mags[i] = Math.abs(x[off + i]);
      }
      float threshold = kthLargest(mags, k);
      byte[] b = new byte[4 + 8 * k];
      ByteBuffer bb = le(b);
      bb.putInt(k);
      int kept = 0;
      for (int i = 0; i < len && kept < k; i++) { // strictly above the threshold first, then ties
        if (Math.abs(x[off + i]) > threshold) {
          bb.putInt(i).putFloat(x[off + i]);
          kept++;
        }
      }
      for (int i = 0; i < len && kept < k; i++) {
        if (Math.abs(x[off + i]) == threshold) {
          bb.putInt(i).putFloat(x[off + i]);
          kept++;
        }
      }
      return b;
    }

    /** The k-th largest of a (which it reorders), by quickselect. */
    private static float kthLargest(float[] a, int k) {
      int lo = 0;
      int hi = a.length - 1;
      int target = k - 1;
      java.util.Random rnd = new java.util.Random(a.length);
      while (lo < hi) {
        float pivot = a[lo + rnd.nextInt(hi - lo + 1)];
        int i = lo;
        int j = hi;
        while (i <= j) {
          while (a[i] > pivot) {
            i++;
          }
          while (a[j] < pivot) {
            j--;
          }
          if (i <= j) {
            float t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
          }
        }
        if (target <= j) {
          hi = j;
        } else if (target >= i) {
          lo = i;
        } else {
          return a[target];
        }
      }
      return a[target];
    }

    @Override
    public void decode(byte[] b, float[] out, int off, int len) {
      if (b.length < 4) {
        throw new CommException.BadFrame("top-k payload of " + b.length + " bytes");
      }
      ByteBuffer bb = le(b);
      int k = bb.getInt();
      if (k < 0 || k > len || b.length != 4 + 8L * k) {
        throw new CommException.BadFrame("top-k payload of " + b.length + " bytes claims " + k + " of " + len
            + " elements");
      }
      java.util.Arrays.fill(out, off, off + len, 0f);
      for (int j = 0; j < k; j++) {
        int i = bb.getInt();
        if (i < 0 || i >= len) {
          throw new CommException.BadFrame("top-k index " + i + " outside " + len + " elements");
        }
        out[off + i] = bb.getFloat();
      }
    }
  }
}
