package dev.tessera.comm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** fp32 arrays to and from little-endian bytes, the raw payload of tensors. */
public final class Floats {
  private Floats() {
  }

  public static byte[] toBytes(float[] x, int off, int len) {
    byte[] b = new byte[4 * len];
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(x, off, len);
    return b;
  }

  /** Reads {@code b} into {@code x[off..]}; b must hold exactly {@code len} floats. */
  public static void fromBytes(byte[] b, float[] x, int off, int len) {
    if (b.length != 4 * len) {
      throw new CommException.BadFrame("expected " + len + " floats (" + 4 * len + " bytes), got " + b.length
          + " bytes");
    }
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(x, off, len);
  }
}
