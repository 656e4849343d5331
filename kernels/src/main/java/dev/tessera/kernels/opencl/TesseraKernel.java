package dev.tessera.kernels.opencl;

/**
 * The device kernel of the OpenCL backend. Aparapi compiles only {@code run()} and gives each
 * kernel object its own device memory, so every op lives in one kernel as a branch chosen by
 * {@link #op} (see {@link Op}), and every tensor is a region of the arenas {@link #mem} and
 * {@link #imem}. That keeps tensors resident on the device across launches. The ops themselves are
 * in the base classes: {@link MatmulKernelBase}, {@link GpuMatmulKernelBase}, {@link OpsKernelBase}, {@link AttentionKernelBase}.
 *
 * <p>There are two concrete kernels. A GPU compiles one kernel's registers and private memory for
 * its most demanding branch: with the fused attention ops (2 x 128 private floats per work-item) in
 * the kernel, every element-wise op ran 4x slower on an H100. And the two devices want different
 * matmul tiles. So {@link CpuKernel} has the packed-operand tile and the fused attention, and
 * {@link GpuKernel} the GPU tile ({@link GpuMatmulKernelBase}) and attention as batched matmuls.
 */
abstract class TesseraKernel extends RowGroupKernelBase {
  /** The ops of one work-item (all but the matmul tile and the fused attention), see {@link #runUnits()}. */
  protected void runUnits() {
    final int op = ia[IA_OP];
    final int n = ia[IA_N];
    final int perItem = ia[IA_PER_ITEM];
    final int itemStride = ia[IA_ITEM_STRIDE];
    final int elemStride = ia[IA_ELEM_STRIDE];
    // Each work-item takes `count` work units (see OpenClBackend#launch). The op is chosen once per
    // work-item, outside the loop: pocl cannot vectorise this many-branched kernel, and testing the
    // op for every element made element-wise ops ten times slower.
    final int w = getGlobalId(0);
    final int first = w * itemStride;
    int count = 0;
    if (first < n) {
      count = min(perItem, (n - first + elemStride - 1) / elemStride);
    }
    if (op == Op.STAGE_IN) {
      for (int j = 0; j < count; j++) {
        stageIn(first + j * elemStride);
      }
    } else if (op == Op.STAGE_OUT) {
      for (int j = 0; j < count; j++) {
        stageOut(first + j * elemStride);
      }
    } else if (op == Op.STAGE_IN_INT) {
      for (int j = 0; j < count; j++) {
        stageInInt(first + j * elemStride);
      }
    } else if (op == Op.STAGE_OUT_INT) {
      for (int j = 0; j < count; j++) {
        stageOutInt(first + j * elemStride);
      }
    } else if (op == Op.COPY) {
      for (int j = 0; j < count; j++) {
        copy(first + j * elemStride);
      }
    } else if (op == Op.COPY_INT) {
      for (int j = 0; j < count; j++) {
        copyInt(first + j * elemStride);
      }
    } else if (op == Op.FILL) {
      for (int j = 0; j < count; j++) {
        fill(first + j * elemStride);
      }
    } else if (op == Op.PACK_A) {
      for (int j = 0; j < count; j++) {
        packA(first + j * elemStride);
      }
    } else if (op == Op.PACK_B) {
      for (int j = 0; j < count; j++) {
        packB(first + j * elemStride);
      }
    } else if (op == Op.SPLIT_K_SUM) {
      for (int j = 0; j < count; j++) {
        splitKSum(first + j * elemStride);
      }
    } else if (op == Op.ADD) {
      for (int j = 0; j < count; j++) {
        add(first + j * elemStride);
      }
    } else if (op == Op.ADD_BIAS) {
      for (int j = 0; j < count; j++) {
        addBias(first + j * elemStride);
      }
    } else if (op == Op.ADD_BIAS_BACKWARD) {
      for (int j = 0; j < count; j++) {
        addBiasBackward(first + j * elemStride);
      }
    } else if (op == Op.SCALE) {
      for (int j = 0; j < count; j++) {
        scale(first + j * elemStride);
      }
    } else if (op == Op.AXPY) {
      for (int j = 0; j < count; j++) {
        axpy(first + j * elemStride);
      }
    } else if (op == Op.SUM_PARTIAL) {
      for (int j = 0; j < count; j++) {
        sumPartial(first + j * elemStride);
      }
    } else if (op == Op.SUM_FINAL) {
      // A loop like the other branches (count is 1 for work-item 0): Aparapi 3.0.2 fails to
      // decompile a bare "if" here ("child list broken").
      for (int j = 0; j < count; j++) {
        sumFinal();
      }
    } else if (op == Op.GELU) {
      for (int j = 0; j < count; j++) {
        gelu(first + j * elemStride);
      }
    } else if (op == Op.GELU_BACKWARD) {
      for (int j = 0; j < count; j++) {
        geluBackward(first + j * elemStride);
      }
    } else if (op == Op.SWIGLU) {
      for (int j = 0; j < count; j++) {
        swiglu(first + j * elemStride);
      }
    } else if (op == Op.SWIGLU_BACKWARD) {
      for (int j = 0; j < count; j++) {
        swigluBackward(first + j * elemStride);
      }
    } else if (op == Op.LAYER_NORM) {
      for (int j = 0; j < count; j++) {
        layerNorm(first + j * elemStride);
      }
    } else if (op == Op.LAYER_NORM_BACKWARD_DX) {
      for (int j = 0; j < count; j++) {
        layerNormBackwardDx(first + j * elemStride);
      }
    } else if (op == Op.NORM_BACKWARD_PARAMS) {
      for (int j = 0; j < count; j++) {
        normBackwardParams(first + j * elemStride);
      }
    } else if (op == Op.NORM_BACKWARD_PARAMS_SUM) {
      for (int j = 0; j < count; j++) {
        normBackwardParamsSum(first + j * elemStride);
      }
    } else if (op == Op.RMS_NORM) {
      for (int j = 0; j < count; j++) {
        rmsNorm(first + j * elemStride);
      }
    } else if (op == Op.RMS_NORM_BACKWARD_DX) {
      for (int j = 0; j < count; j++) {
        rmsNormBackwardDx(first + j * elemStride);
      }
    } else if (op == Op.ROPE) {
      for (int j = 0; j < count; j++) {
        rope(first + j * elemStride);
      }
    } else if (op == Op.HEADS_TO_BATCH) {
      for (int j = 0; j < count; j++) {
        headsToBatch(first + j * elemStride);
      }
    } else if (op == Op.BATCH_TO_HEADS) {
      for (int j = 0; j < count; j++) {
        batchToHeads(first + j * elemStride);
      }
    } else if (op == Op.CAUSAL_SOFTMAX) {
      for (int j = 0; j < count; j++) {
        causalSoftmax(first + j * elemStride);
      }
    } else if (op == Op.SOFTMAX_FROM_LSE) {
      for (int j = 0; j < count; j++) {
        softmaxFromLse(first + j * elemStride);
      }
    } else if (op == Op.SOFTMAX_BACKWARD) {
      for (int j = 0; j < count; j++) {
        softmaxBackward(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING) {
      for (int j = 0; j < count; j++) {
        embedding(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING_BACKWARD) {
      for (int j = 0; j < count; j++) {
        embeddingBackward(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING_BACKWARD_CHUNK) {
      for (int j = 0; j < count; j++) {
        embeddingBackwardChunk(first + j * elemStride);
      }
    } else if (op == Op.EMBEDDING_BACKWARD_SUM) {
      for (int j = 0; j < count; j++) {
        embeddingBackwardSum(first + j * elemStride);
      }
    } else if (op == Op.CROSS_ENTROPY) {
      for (int j = 0; j < count; j++) {
        crossEntropy(first + j * elemStride);
      }
    } else if (op == Op.CROSS_ENTROPY_BACKWARD) {
      for (int j = 0; j < count; j++) {
        crossEntropyBackward(first + j * elemStride);
      }
    } else if (op == Op.ADAMW) {
      for (int j = 0; j < count; j++) {
        adamw(first + j * elemStride);
      }
    }
  }

}
