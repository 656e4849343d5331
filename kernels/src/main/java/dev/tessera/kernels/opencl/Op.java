package dev.tessera.kernels.opencl;

/**
 * Op codes of {@link TesseraKernel#run()}. Aparapi compiles only {@code run()}, so every op is one
 * branch of it, chosen by the {@code op} field; these compile-time constants keep the branches named.
 */
final class Op {
  static final int NOP = 0;
  static final int STAGE_IN = 1;
  static final int STAGE_OUT = 2;
  static final int STAGE_IN_INT = 3;
  static final int STAGE_OUT_INT = 4;
  static final int COPY = 5;
  static final int COPY_INT = 6;
  static final int FILL = 7;
  static final int PACK_A = 10;
  static final int PACK_B = 11;
  static final int MATMUL = 12;
  /** The GPU kernels' small matmul tile. */
  static final int MATMUL_SMALL = 71;
  static final int SPLIT_K_SUM = 13;
  static final int ADD = 20;
  static final int ADD_BIAS = 21;
  static final int ADD_BIAS_BACKWARD = 22;
  static final int SCALE = 23;
  static final int AXPY = 24;
  static final int SUM_PARTIAL = 25;
  static final int SUM_FINAL = 26;
  static final int GELU = 30;
  static final int GELU_BACKWARD = 31;
  static final int SWIGLU = 32;
  static final int SWIGLU_BACKWARD = 33;
  static final int LAYER_NORM = 40;
  static final int LAYER_NORM_BACKWARD_DX = 41;
  static final int NORM_BACKWARD_PARAMS = 42;
  static final int NORM_BACKWARD_PARAMS_SUM = 46;
  static final int LAYER_NORM_ROWS = 47;
  static final int LAYER_NORM_BACKWARD_DX_ROWS = 48;
  static final int RMS_NORM = 43;
  static final int RMS_NORM_BACKWARD_DX = 44;
  static final int ROPE = 45;
  static final int ATTENTION_ONLINE = 53;
  static final int ATTENTION_BACKWARD_DQ_ONLINE = 54;
  static final int ATTENTION_BACKWARD_DKV_ONLINE = 55;
  static final int HEADS_TO_BATCH = 56;
  static final int BATCH_TO_HEADS = 57;
  static final int CAUSAL_SOFTMAX = 58;
  static final int SOFTMAX_FROM_LSE = 59;
  static final int SOFTMAX_BACKWARD = 64;
  static final int CAUSAL_SOFTMAX_ROWS = 65;
  static final int SOFTMAX_BACKWARD_ROWS = 66;
  static final int EMBEDDING = 60;
  static final int EMBEDDING_BACKWARD = 61;
  static final int EMBEDDING_BACKWARD_CHUNK = 67;
  static final int EMBEDDING_BACKWARD_SUM = 68;
  static final int CROSS_ENTROPY = 62;
  static final int CROSS_ENTROPY_BACKWARD = 63;
  static final int ADAMW = 70;

  private Op() {
  }
}
