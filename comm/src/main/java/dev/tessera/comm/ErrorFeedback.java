package dev.tessera.comm;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Error feedback for lossy codecs (as in 1-bit Adam and Deep Gradient Compression): what a codec
 * dropped from a tensor is kept and added to that tensor's next value before it is encoded again,
 * so that the sum of what was sent tracks the sum of the true tensors (their difference is the
 * residual, which stays bounded). State is kept per tensor name and part; different names may be
 * encoded on several threads at once, one name by one thread at a time (its residual's array holds
 * the value being encoded meanwhile, and after a failed encode).
 */
public final class ErrorFeedback {
  private final Map<String, float[]> residuals = new ConcurrentHashMap<>();

  /**
   * Encodes x[off..off+len) plus the residual of {@code name} with {@code codec}, writes what the
   * receiver will decode into {@code sent[0..len)} (may be null) and keeps the new residual.
   */
  public byte[] encode(String name, Codec codec, float[] x, int off, int len, float[] sent) {
    float[] r = residuals.computeIfAbsent(name, k -> new float[len]);
    if (r.length != len) {
      throw new IllegalArgumentException("tensor '" + name + "' had " + r.length + " elements, now " + len);
    }
    for (int i = 0; i < len; i++) { // the residual's array holds y = x + r while it is encoded
      r[i] += x[off + i];
    }
    byte[] b = codec.encode(r, 0, len);
    float[] d = sent != null ? sent : CodecThreads.scratch(len);
    codec.decode(b, d, 0, len);
    for (int i = 0; i < len; i++) {
      r[i] -= d[i];
    }
    return b;
  }

  /** The residual of a tensor (zeros if none yet). */
  public float[] residual(String name, int len) {
    float[] r = residuals.get(name);
    return r == null ? new float[len] : r.clone();
  }
}
