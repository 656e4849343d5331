package dev.tessera.comm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/** A decoded, verified frame: its header, and its payload as a region of the bytes that arrived (not copied). */
public record Frame(FrameHeader header, byte[] bytes, int offset) {

  public int payloadLength() {
    return header.length();
  }

  /** A copy of the payload. */
  public byte[] payload() {
    byte[] p = new byte[header.length()];
    System.arraycopy(bytes, offset, p, 0, p.length);
    return p;
  }

  /** Throws {@link CommException.BadFrame} unless the payload is exactly {@code len} floats. */
  public void requireFloats(int len) {
    if (header.length() != 4 * len) {
      throw new CommException.BadFrame("expected " + len + " floats (" + 4 * len + " bytes) for " + header.key()
          + ", got " + header.length() + " bytes from rank " + header.source());
    }
  }

  /** Reads an fp32 payload of exactly {@code len} floats into x[off..], or adds it there. */
  public void floatsInto(float[] x, int off, int len, boolean add, float[] scratch) {
    requireFloats(len);
    FloatBuffer fb = ByteBuffer.wrap(bytes, offset, 4 * len).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    if (!add) {
      fb.get(x, off, len);
      return;
    }
    fb.get(scratch, 0, len);
    for (int i = 0; i < len; i++) {
      x[off + i] += scratch[i];
    }
  }
}
