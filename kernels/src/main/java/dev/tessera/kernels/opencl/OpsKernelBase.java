package dev.tessera.kernels.opencl;

/**
 * The element-wise, normalisation, embedding, loss and optimiser ops of the device kernel. Aparapi
 * turns these methods into OpenCL functions called from {@link TesseraKernel#run()}.
 *
 * <p>Arguments are set by {@link OpenClBackend} before each launch (see {@link KernelArgs}): element
 * offsets into {@link #mem} or {@link #imem} ({@code o0..o8}), sizes ({@code d0..d4}) and scalars
 * ({@code s0..s6}); {@code n} is the number of live work-items (the range is padded to whole
 * work-groups). Each method reads the ones it uses into locals first (generated prologues). Rules Aparapi imposes here: no objects,
 * no {@code switch}, {@code break} or {@code continue}, no static methods, float maths only.
 */
abstract class OpsKernelBase extends GpuMatmulKernelBase {
  static final float GELU_SCALE = 0.7978845608f; // sqrt(2 / pi)
  static final float NEG_HUGE = -3.0e38f;

  /** Integer arena (token ids, targets). */
  int[] imem = new int[1];
  /** Host <-> device staging buffers: transfers move these, never the whole arena. */
  float[] stage = new float[1];
  int[] istage = new int[1];
  /**
   * Small staging buffers: Aparapi moves whole arrays, so transfers of up to their size (token ids,
   * a loss) go through these instead of the 4 MiB ones (d0 = 1 selects them).
   */
  float[] stageSmall = new float[1];
  int[] istageSmall = new int[1];

  // Arguments (KernelArgs): op; n, the work units of the launch; a work-item w takes units w *
  // itemStride + j * elemStride for j < perItem; then generic offsets o0..o8 into mem or imem, sizes
  // d0..d4 and scalars s0..s6, named by each op's comment.

  // ---- memory: i < n ----------------------------------------------------------------------------

  void stageIn(int i) {
    final int o0 = ia[IA_O0];
    final int d0 = ia[IA_D0];
    mem[o0 + i] = d0 == 1 ? stageSmall[i] : stage[i];
  }

  void stageOut(int i) {
    final int o0 = ia[IA_O0];
    final int d0 = ia[IA_D0];
    if (d0 == 1) {
      stageSmall[i] = mem[o0 + i];
    } else {
      stage[i] = mem[o0 + i];
    }
  }

  void stageInInt(int i) {
    final int o0 = ia[IA_O0];
    final int d0 = ia[IA_D0];
    imem[o0 + i] = d0 == 1 ? istageSmall[i] : istage[i];
  }

  void stageOutInt(int i) {
    final int o0 = ia[IA_O0];
    final int d0 = ia[IA_D0];
    if (d0 == 1) {
      istageSmall[i] = imem[o0 + i];
    } else {
      istage[i] = imem[o0 + i];
    }
  }

  void copy(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    mem[o0 + i] = mem[o1 + i];
  }

  void copyInt(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    imem[o0 + i] = imem[o1 + i];
  }

  void fill(int i) {
    final int o0 = ia[IA_O0];
    final float s0 = fa[FA_S0];
    mem[o0 + i] = s0;
  }

  /**
   * Packs op(A) into zero-padded 64x16 tiles, k-major, for {@link #matmulTile()}; one work unit per
   * (batch, row block, k) row of 64 elements, so the index arithmetic is paid once per row.
   * o0: packed destination; o1: A; o2: batch stride; d0, d1: M, K; d2: k tiles; d3, d4: row and k strides.
   */
  void packA(int u) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d3 = ia[IA_D3];
    final int d4 = ia[IA_D4];
    final int mmRowBlocks = ia[IA_MM_ROW_BLOCKS];
    final int rowsPerBatch = mmRowBlocks * d2 * TILE_K;
    final int batch = u / rowsPerBatch;
    final int rem = u - batch * rowsPerBatch;
    final int rowBlock = rem / (d2 * TILE_K);
    final int k = rem - rowBlock * d2 * TILE_K;
    final int dst = o0 + u * TILE_ROWS;
    final int row0 = rowBlock * TILE_ROWS;
    final int src = o1 + batch * o2 + k * d4;
    for (int r = 0; r < TILE_ROWS; r++) {
      mem[dst + r] = (row0 + r < d0 && k < d1) ? mem[src + (row0 + r) * d3] : 0f;
    }
  }

  /**
   * Packs op(B) into zero-padded 16x128 tiles for {@link #matmulTile()}; one work unit per (batch,
   * column block, k) row of 128 elements. o0: packed destination; o1: B; o2: batch stride; o3: column
   * blocks; d0, d1: N, K; d2: k tiles; d3, d4: k and column strides.
   */
  void packB(int u) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d3 = ia[IA_D3];
    final int d4 = ia[IA_D4];
    final int rowsPerBatch = o3 * d2 * TILE_K;
    final int batch = u / rowsPerBatch;
    final int rem = u - batch * rowsPerBatch;
    final int colBlock = rem / (d2 * TILE_K);
    final int k = rem - colBlock * d2 * TILE_K;
    final int dst = o0 + u * TILE_COLS;
    final int col0 = colBlock * TILE_COLS;
    final int src = o1 + batch * o2 + k * d3;
    for (int c = 0; c < TILE_COLS; c++) {
      mem[dst + c] = (col0 + c < d0 && k < d1) ? mem[src + (col0 + c) * d4] : 0f;
    }
  }

  // ---- element-wise: i < n ----------------------------------------------------------------------

  void add(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    mem[o0 + i] = mem[o1 + i] + mem[o2 + i];
  }

  /** o0 out, o1 x, o2 bias; d0 = C. */
  void addBias(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int d0 = ia[IA_D0];
    mem[o0 + i] = mem[o1 + i] + mem[o2 + i % d0];
  }

  /** One work-item per column j < C: o0 dBias, o1 dOut; d0 = C, d1 = rows. */
  void addBiasBackward(int j) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    float acc = 0f;
    for (int r = 0; r < d1; r++) {
      acc += mem[o1 + r * d0 + j];
    }
    mem[o0 + j] += acc;
  }

  void scale(int i) {
    final int o0 = ia[IA_O0];
    final float s0 = fa[FA_S0];
    mem[o0 + i] *= s0;
  }

  void axpy(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final float s0 = fa[FA_S0];
    mem[o0 + i] += s0 * mem[o1 + i];
  }

  /** C = alpha * (sum of d0 partial products d1 apart) + beta * C. o0 C, o1 partials; s0 alpha, s1 beta. */
  void splitKSum(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final float s0 = fa[FA_S0];
    final float s1 = fa[FA_S1];
    float acc = 0f;
    for (int s = 0; s < d0; s++) {
      acc += mem[o1 + s * d1 + i];
    }
    mem[o0 + i] = s1 == 0f ? s0 * acc : s0 * acc + s1 * mem[o0 + i];
  }

  /** Work-item g of d1 sums x[g], x[g + d1], ... into partial[g]. o0 partial, o1 x; d0 = size; d2 = 1 for squares. */
  void sumPartial(int g) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    float acc = 0f;
    for (int i = g; i < d0; i += d1) {
      final float v = mem[o1 + i];
      acc += d2 == 1 ? v * v : v;
    }
    mem[o0 + g] = acc;
  }

  /** One work-item: out[0] = sum of d1 partials. o0 out, o1 partials. */
  void sumFinal() {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int d1 = ia[IA_D1];
    float acc = 0f;
    for (int g = 0; g < d1; g++) {
      acc += mem[o1 + g];
    }
    mem[o0] = acc;
  }

  /** GELU, tanh form, written as x * sigmoid(2u) (= 0.5 x (1 + tanh u)): one exp, no tanh. */
  void gelu(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final float x = mem[o1 + i];
    final float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    mem[o0 + i] = x / (1f + exp(-2f * u));
  }

  /** o0 dx, o1 dOut, o2 x. */
  void geluBackward(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final float x = mem[o2 + i];
    final float s = 1f / (1f + exp(-2f * GELU_SCALE * (x + 0.044715f * x * x * x))); // 0.5 (1 + tanh u)
    final float du = GELU_SCALE * (1f + 3f * 0.044715f * x * x);
    mem[o0 + i] = mem[o1 + i] * (s + 2f * x * s * (1f - s) * du);
  }

  /** o0 out, o1 gate, o2 up. */
  void swiglu(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final float g = mem[o1 + i];
    mem[o0 + i] = g / (1f + exp(-g)) * mem[o2 + i];
  }

  /** o0 dGate, o1 dUp, o2 dOut, o3 gate, o4 up. */
  void swigluBackward(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final float g = mem[o3 + i];
    final float s = 1f / (1f + exp(-g));
    final float d = mem[o2 + i];
    mem[o0 + i] += d * mem[o4 + i] * s * (1f + g * (1f - s));
    mem[o1 + i] += d * g * s;
  }

  /**
   * AdamW on element i: o0 param, o1 grad, o2 m, o3 v; s0 lr, s1 beta1, s2 beta2, s3 eps, s4 weight
   * decay, s5 and s6 the bias corrections 1 - beta1^step and 1 - beta2^step.
   */
  void adamw(int i) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final float s0 = fa[FA_S0];
    final float s1 = fa[FA_S1];
    final float s2 = fa[FA_S2];
    final float s3 = fa[FA_S3];
    final float s4 = fa[FA_S4];
    final float s5 = fa[FA_S5];
    final float s6 = fa[FA_S6];
    final float g = mem[o1 + i];
    final float m = s1 * mem[o2 + i] + (1f - s1) * g;
    final float v = s2 * mem[o3 + i] + (1f - s2) * g * g;
    mem[o2 + i] = m;
    mem[o3 + i] = v;
    final float mHat = m / s5;
    final float vHat = v / s6;
    mem[o0 + i] = mem[o0 + i] * (1f - s0 * s4) - s0 * mHat / (sqrt(vHat) + s3);
  }

  // ---- normalisation: one work-item per row r < n -----------------------------------------------

  /** o0 out, o1 mean, o2 rstd, o3 x, o4 weight, o5 bias (d1 = 1 if present); d0 = C; s0 eps. */
  void layerNorm(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final float s0 = fa[FA_S0];
    final int base = r * d0;
    float mu = 0f;
    for (int j = 0; j < d0; j++) {
      mu += mem[o3 + base + j];
    }
    mu /= d0;
    float var = 0f;
    for (int j = 0; j < d0; j++) {
      final float dv = mem[o3 + base + j] - mu;
      var += dv * dv;
    }
    var /= d0;
    final float rs = 1f / sqrt(var + s0);
    for (int j = 0; j < d0; j++) {
      final float b = d1 == 1 ? mem[o5 + j] : 0f;
      mem[o0 + base + j] = (mem[o3 + base + j] - mu) * rs * mem[o4 + j] + b;
    }
    mem[o1 + r] = mu;
    mem[o2 + r] = rs;
  }

  /** o0 dx, o1 dOut, o2 x, o3 weight, o4 mean, o5 rstd; d0 = C. */
  void layerNormBackwardDx(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int d0 = ia[IA_D0];
    final int base = r * d0;
    final float mu = mem[o4 + r];
    final float rs = mem[o5 + r];
    float meanDn = 0f;
    float meanDnN = 0f;
    for (int j = 0; j < d0; j++) {
      final float nrm = (mem[o2 + base + j] - mu) * rs;
      final float dn = mem[o1 + base + j] * mem[o3 + j];
      meanDn += dn;
      meanDnN += dn * nrm;
    }
    meanDn /= d0;
    meanDnN /= d0;
    for (int j = 0; j < d0; j++) {
      final float nrm = (mem[o2 + base + j] - mu) * rs;
      final float dn = mem[o1 + base + j] * mem[o3 + j];
      mem[o0 + base + j] += (dn - meanDn - nrm * meanDnN) * rs;
    }
  }

  /**
   * Parameter gradients of LayerNorm and RMSNorm, dWeight[j] += sum_r dOut * norm, dBias[j] += sum_r
   * dOut, in two launches so that a GPU has enough work-items: here one per (chunk of d4 rows,
   * column j), w = chunk * C + j, writing partial sums to o6 (dWeight's, then dBias's, n apart); then
   * {@link #normBackwardParamsSum} per column. o0 dWeight, o1 dBias (d2 = 1 if present), o2 dOut,
   * o3 x, o4 mean (d3 = 1 if present, else RMSNorm), o5 rstd, o6 partials; d0 = C, d1 = rows.
   */
  void normBackwardParams(int w) {
    final int n = ia[IA_N];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int o5 = ia[IA_O5];
    final int o6 = ia[IA_O6];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d3 = ia[IA_D3];
    final int d4 = ia[IA_D4];
    final int j = w % d0;
    final int chunk = w / d0;
    final int end = min(d1, (chunk + 1) * d4);
    float dw = 0f;
    float db = 0f;
    for (int r = chunk * d4; r < end; r++) {
      final float g = mem[o2 + r * d0 + j];
      final float mu = d3 == 1 ? mem[o4 + r] : 0f;
      dw += g * (mem[o3 + r * d0 + j] - mu) * mem[o5 + r];
      db += g;
    }
    mem[o6 + w] = dw;
    mem[o6 + n + w] = db;
  }

  /** Column j of the norm parameter gradients: the partials of the chunks of rows. o0..o6 as above. */
  void normBackwardParamsSum(int j) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o6 = ia[IA_O6];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d4 = ia[IA_D4];
    final int chunks = (d1 + d4 - 1) / d4;
    float dw = 0f;
    float db = 0f;
    for (int c = 0; c < chunks; c++) {
      dw += mem[o6 + c * d0 + j];
      db += mem[o6 + (chunks + c) * d0 + j];
    }
    mem[o0 + j] += dw;
    if (d2 == 1) {
      mem[o1 + j] += db;
    }
  }

  /** o0 out, o1 rstd, o2 x, o3 weight; d0 = C; s0 eps. */
  void rmsNorm(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final float s0 = fa[FA_S0];
    final int base = r * d0;
    float ms = 0f;
    for (int j = 0; j < d0; j++) {
      final float x = mem[o2 + base + j];
      ms += x * x;
    }
    final float rs = 1f / sqrt(ms / d0 + s0);
    for (int j = 0; j < d0; j++) {
      mem[o0 + base + j] = mem[o2 + base + j] * rs * mem[o3 + j];
    }
    mem[o1 + r] = rs;
  }

  /** o0 dx, o1 dOut, o2 x, o3 weight, o4 rstd; d0 = C. */
  void rmsNormBackwardDx(int r) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int o4 = ia[IA_O4];
    final int d0 = ia[IA_D0];
    final int base = r * d0;
    final float rs = mem[o4 + r];
    float meanDnN = 0f;
    for (int j = 0; j < d0; j++) {
      meanDnN += mem[o1 + base + j] * mem[o3 + j] * mem[o2 + base + j] * rs;
    }
    meanDnN /= d0;
    for (int j = 0; j < d0; j++) {
      final float nrm = mem[o2 + base + j] * rs;
      mem[o0 + base + j] += (mem[o1 + base + j] * mem[o3 + j] - nrm * meanDnN) * rs;
    }
  }

  /**
   * Rotary embedding of pair p of x [B, T, H, D]: o0 out, o1 x, o2 freqs; d0 = T, d1 = H, d2 = D/2;
   * d3 = 1 for backward (rotate by -angle and accumulate into out).
   */
  void rope(int p) {
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d3 = ia[IA_D3];
    final int i = p % d2;
    final int pos = (p / d2 / d1) % d0;
    final float theta = pos * mem[o2 + i];
    final float c = cos(theta);
    final float sn = d3 == 1 ? -sin(theta) : sin(theta);
    final float a = mem[o1 + 2 * p];
    final float b = mem[o1 + 2 * p + 1];
    final float ra = a * c - b * sn;
    final float rb = a * sn + b * c;
    if (d3 == 1) {
      mem[o0 + 2 * p] += ra;
      mem[o0 + 2 * p + 1] += rb;
    } else {
      mem[o0 + 2 * p] = ra;
      mem[o0 + 2 * p + 1] = rb;
    }
  }

  // ---- embedding and loss -----------------------------------------------------------------------

  /** out[i] for i < rows*C: o0 out, o1 table, o2 ids (imem); d0 = C, d1 = V. Out-of-range ids give zero rows. */
  void embedding(int i) {
    final int d5 = ia[IA_D5];
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int row = i / d0;
    final int id = imem[o2 + row] - d5;
    mem[o0 + i] = (id >= 0 && id < d1) ? mem[o1 + id * d0 + i - row * d0] : 0f;
  }

  /** One work-item per column j < C, rows in order (deterministic, no atomics): o0 dTable, o1 dOut, o2 ids; d0 = C, d1 = V, d2 = rows. */
  void embeddingBackward(int j) {
    final int d5 = ia[IA_D5];
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    for (int r = 0; r < d2; r++) {
      final int id = imem[o2 + r] - d5;
      if (id >= 0 && id < d1) {
        mem[o0 + id * d0 + j] += mem[o1 + r * d0 + j];
      }
    }
  }

  /**
   * The same in chunks of d3 rows, so that a GPU has more than C work-items: work-item w = chunk * C
   * + j sums its chunk's rows into its own column of partial table o3 + chunk * V * C (zeroed here),
   * then {@link #embeddingBackwardSum} adds the chunks' tables. o0..o2, d0..d2 as above.
   */
  void embeddingBackwardChunk(int w) {
    final int d5 = ia[IA_D5];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d2 = ia[IA_D2];
    final int d3 = ia[IA_D3];
    final int j = w % d0;
    final int chunk = w / d0;
    final int table = o3 + chunk * d1 * d0;
    for (int v = 0; v < d1; v++) {
      mem[table + v * d0 + j] = 0f;
    }
    final int end = min(d2, (chunk + 1) * d3);
    for (int r = chunk * d3; r < end; r++) {
      final int id = imem[o2 + r] - d5;
      if (id >= 0 && id < d1) {
        mem[table + id * d0 + j] += mem[o1 + r * d0 + j];
      }
    }
  }

  /** dTable[u] += the chunks' partial tables at u (u < V * C). o0 dTable, o3 partials; d4 = chunks. */
  void embeddingBackwardSum(int u) {
    final int o0 = ia[IA_O0];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final int d1 = ia[IA_D1];
    final int d4 = ia[IA_D4];
    float acc = 0f;
    for (int c = 0; c < d4; c++) {
      acc += mem[o3 + c * d1 * d0 + u];
    }
    mem[o0 + u] += acc;
  }

  /** One work-item per row: o0 losses, o1 lse, o2 logits, o3 targets (imem); d0 = V; d5 = the shard's first class. */
  void crossEntropy(int r) {
    final int d5 = ia[IA_D5];
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final int base = o2 + r * d0;
    float max = NEG_HUGE;
    for (int j = 0; j < d0; j++) {
      max = max(max, mem[base + j]);
    }
    float sum = 0f;
    for (int j = 0; j < d0; j++) {
      sum += exp(mem[base + j] - max);
    }
    final float l = max + log(sum);
    mem[o1 + r] = l;
    final int t = imem[o3 + r] - d5; // targets below 0 are ignored, and d5 (this shard's first class) >= 0
    mem[o0 + r] = (t >= 0 && t < d0) ? l - mem[base + t] : 0f;
  }

  /** One work-item per logit i < N*V: o0 dLogits, o1 logits, o2 targets, o3 lse; d0 = V; s0 loss scale; d5 first class. */
  void crossEntropyBackward(int i) {
    final int d5 = ia[IA_D5];
    final int o0 = ia[IA_O0];
    final int o1 = ia[IA_O1];
    final int o2 = ia[IA_O2];
    final int o3 = ia[IA_O3];
    final int d0 = ia[IA_D0];
    final float s0 = fa[FA_S0];
    final int r = i / d0;
    final int t = imem[o2 + r];
    if (t >= 0) {
      final float p = exp(mem[o1 + i] - mem[o3 + r]);
      mem[o0 + i] += s0 * (p - (i - r * d0 == t - d5 ? 1f : 0f));
    }
  }
}
