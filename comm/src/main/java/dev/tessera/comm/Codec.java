package dev.tessera.comm;

/**
 * How a run of floats travels: the codec byte of a frame's header says which one encoded it, and
 * the receiver decodes with the same one ({@link Codecs#byId}). Lossy codecs are used with
 * {@link ErrorFeedback}, which adds what a codec dropped to the next step's tensor.
 */
public interface Codec {
  /** Raw little-endian fp32 (lossless). */
  byte FP32 = 0;
  byte BF16 = 1;
  byte INT8 = 2;
  byte FP8 = 3;
  byte ONE_BIT = 4;
  byte TOP_K = 5;
  /** Not floats: a control message's bytes (plans, commands, reports), which no codec decodes. */
  byte CONTROL = 16;

  byte id();

  String name();

  /** Encodes x[off .. off + len). */
  byte[] encode(float[] x, int off, int len);

  /** The bytes {@link #encode} makes of {@code len} floats. */
  long encodedBytes(int len);

  /** Decodes {@code len} floats into out[off ..]; throws {@link CommException.BadFrame} if the bytes do not fit. */
  void decode(byte[] bytes, float[] out, int off, int len);

  /** Whether decode(encode(x)) == x for every x. */
  boolean lossless();

  static boolean known(byte id) {
    return (id >= FP32 && id <= TOP_K) || id == CONTROL;
  }
}
