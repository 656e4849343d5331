package dev.tessera.comm;

/** Payload encodings a frame may carry (the codec byte of its header). */
public final class Codec {
  /** Raw little-endian fp32. */
  public static final byte FP32 = 0;

  private Codec() {
  }

  static boolean known(byte id) {
    return id == FP32;
  }
}
