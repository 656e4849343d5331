package dev.tessera.model;

import java.util.Locale;

/**
 * The shape of a GPT. GPT-2/nanoGPT by default (LayerNorm, GELU MLP, learned positions); Llama-style
 * options: RMSNorm, SwiGLU, rotary positions.
 *
 * @param vocabSize tokens in the vocabulary
 * @param blockSize the longest context, in tokens
 * @param nLayer transformer blocks
 * @param nHead attention heads; divides nEmbd
 * @param nEmbd model width
 * @param bias biases in linear layers and LayerNorm
 * @param mlpHidden MLP hidden width; 0 means 4 x nEmbd (GELU) or 8/3 x nEmbd rounded up to 16 (SwiGLU)
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, boolean bias, Norm norm,
    Mlp mlp, Positions positions, int mlpHidden, float ropeBase) {

  public enum Norm { LAYERNORM, RMSNORM }

  public enum Mlp { GELU, SWIGLU }

  public enum Positions { LEARNED, ROTARY }

  public GptConfig {
    require(vocabSize >= 2, "vocab-size must be at least 2, got " + vocabSize);
    require(blockSize >= 1, "block-size must be positive, got " + blockSize);
    require(nLayer >= 1, "n-layer must be positive, got " + nLayer);
    require(nHead >= 1, "n-head must be positive, got " + nHead);
    require(nEmbd >= 1 && nEmbd % nHead == 0,
        "n-embd (" + nEmbd + ") must be a positive multiple of n-head (" + nHead + ")");
    require(positions != Positions.ROTARY || (nEmbd / nHead) % 2 == 0,
        "rotary positions need an even head size, got " + nEmbd / nHead);
    require(mlpHidden >= 0, "mlp-hidden must be 0 (automatic) or positive, got " + mlpHidden);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  public int headSize() {
    return nEmbd / nHead;
  }

  /** The MLP hidden width actually used. */
  public int hidden() {
    if (mlpHidden > 0) {
      return mlpHidden;
    }
    return mlp == Mlp.GELU ? 4 * nEmbd : (8 * nEmbd / 3 + 15) / 16 * 16;
  }

  public static <E extends Enum<E>> E parse(Class<E> type, String value, String key) {
    try {
      return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      StringBuilder known = new StringBuilder();
      for (E c : type.getEnumConstants()) {
        known.append(known.length() == 0 ? "" : ", ").append(c.name().toLowerCase(Locale.ROOT));
      }
      throw new IllegalArgumentException(key + ": unknown value '" + value + "'; expected one of " + known, e);
    }
  }
}
