package dev.tessera.kernels.opencl;

import com.aparapi.Range;
import com.aparapi.device.Device;
import com.aparapi.device.OpenCLDevice;
import com.aparapi.exception.QueryFailedException;
import com.aparapi.internal.kernel.KernelManager;
import dev.tessera.kernels.BackendBase;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.DeviceKind;
import dev.tessera.kernels.DeviceUnavailableException;
import dev.tessera.kernels.MatmulDims;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Runs every op on one OpenCL device through Aparapi, with all tensors resident in device memory.
 *
 * <p>Aparapi's constraints shape this class (../shared/notes/platform-facts.md): device memory
 * belongs to one kernel object, so there is one {@link TesseraKernel} and tensors are regions of
 * its arenas; explicit mode, so nothing moves between host and device except through
 * {@link #write}/{@link #read} and their staging buffers; the preferred device pinned and an
 * explicit local size on every launch (NVIDIA fails with Aparapi's default); shared host memory
 * off on GPUs. Aparapi falls back to other devices silently, so every launch checks where it ran
 * and fails loudly if it was not this device.
 *
 * <p>Not thread-safe: use one backend per thread.
 */
public final class OpenClBackend extends BackendBase {
  /** Work-group size of the one-dimensional ops. */
  static final int LOCAL = 64;
  /** Most work units one work-item takes on a CPU device. */
  static final int CPU_PER_ITEM = 64;
  /** Partial sums of a reduction's last stage; earlier stages cut the input to this many. */
  static final int SUM_PARTIALS = 256;
  /** Elements each work-item of a reduction's earlier stages sums. */
  static final int SUM_PER_ITEM = 32;
  /**
   * Held around every call into Aparapi (launches, puts, gets, disposal). Aparapi's native side calls
   * JNI while it holds arrays "critical", which is only safe with one caller at a time: with two
   * backends launching from two threads (workers of a layout) the JVM heap was corrupted and the
   * garbage collector crashed.
   */
  static final Object APARAPI = new Object();

  /**
   * Elements an arena may hold: its size in bytes must fit Aparapi's 32-bit byte count. This bounds
   * the device memory of one worker (one backend) at 2 GiB of floats, whatever the GPU has.
   */
  public static final long MAX_ARENA_ELEMENTS = (1L << 29) - 64;

  private final OpenCLDevice device;
  private final LinkedHashSet<Device> pinned;
  private final DeviceKind kind;
  final TesseraKernel kernel;
  private final DeviceMemory memory;
  private long launches;
  private boolean broken;
  private final AttentionLaunches attention;
  private final RowLaunches rows;
  private final boolean gpuKernel;
  private final LaunchProfile profile = LaunchProfile.fromEnvironment();
  /** The system property that picks the GPU kernel's matmul tiles (see {@link #gpuKernelForm}). */
  public static final String TILES_PROPERTY = "tessera.gpu.tiles";
  /** Test hook: the GPU tile every matmul takes (128 or 64), or 0 to choose by shape. */
  int forcedTile;

  /**
   * Opens the device and compiles the kernel on it.
   *
   * @param initialElements starting size of the float arena; it grows on demand
   */
  public OpenClBackend(OpenCLDevice device, DeviceKind kind, int initialElements) {
    this(device, kind, initialElements, kind == DeviceKind.GPU);
  }

  /**
   * @param gpuKernel the GPU form of the kernel ({@link GpuKernel}: the GPU matmul tiles, attention as
   *     batched matmuls; the default on GPUs) rather than the CPU form ({@link CpuKernel}: the packed
   *     matmul tile, fused per-row attention; the default on CPUs)
   */
  public OpenClBackend(OpenCLDevice device, DeviceKind kind, int initialElements, boolean gpuKernel) {
    this.device = device;
    this.kind = kind;
    this.attention = new AttentionLaunches(this);
    this.rows = new RowLaunches(this);
    this.kernel = gpuKernel ? gpuKernelForm() : new CpuKernel();
    this.gpuKernel = gpuKernel;
    if (device.getType() == Device.TYPE.GPU) {
      device.setSharedMemory(false);
    }
    kernel.setExplicit(true);
    pinned = new LinkedHashSet<>(List.of(device));
    memory = new DeviceMemory(this, device, kernel, initialElements);
    memory.bind();
    int maxGroup = maxWorkGroupSize();
    int tileItems = gpuKernel ? GpuMatmulKernelBase.GPU_ITEMS : MatmulKernelBase.TILE_COLS;
    if (maxGroup < tileItems) {
      throw new DeviceUnavailableException("OpenCL device " + device.getName() + " allows work-groups of only "
          + maxGroup + " work-items for Tessera's kernel; the matmul needs " + tileItems);
    }
  }

  private int maxWorkGroupSize() {
    try {
      return kernel.getKernelMaxWorkGroupSize(device);
    } catch (QueryFailedException e) {
      throw new DeviceUnavailableException("cannot query the kernel's work-group size on " + device.getName(), e);
    }
  }

  /** Where this backend's device is among the devices of its kind, e.g. " 1 of 8" (empty when it is the only one). */
  private String position = "";

  /** Records that this backend's device is number {@code index} of the {@code count} of its kind. */
  public void position(int index, int count) {
    position = count > 1 ? " " + index + " of " + count : "";
  }

  @Override
  public String describe() {
    return "OpenCL " + (kind == DeviceKind.GPU ? "GPU" : "CPU") + position + ": " + device.getName().trim() + " ("
        + device.getOpenCLPlatform().getName().trim() + ", " + device.getOpenCLPlatform().getVersion().trim() + ")";
  }

  @Override
  public DeviceKind kind() {
    return kind;
  }

  /** Bytes moved host to device and back so far (only {@code write}/{@code read} move data). */
  public long bytesToDevice() {
    return memory.bytesToDevice();
  }

  public long bytesToHost() {
    return memory.bytesToHost();
  }

  public long launches() {
    return launches;
  }

  @Override
  public long peakDeviceBytes() {
    return memory.peakBytes();
  }

  /** Floats in use in the device arena, and its capacity. */
  public String memoryReport() {
    return memory.toString();
  }

  // ---- launching --------------------------------------------------------------------------------

  private static int roundUp(int n, int multiple) {
    return (n + multiple - 1) / multiple * multiple;
  }

  /**
   * Launches {@code op} over {@code units} work units. On a CPU each work-item takes a contiguous
   * run of up to {@link #CPU_PER_ITEM} units (per-work-item overhead dominates there); on a GPU
   * each takes one.
   */
  void launch(int op, int units) {
    int per = kind == DeviceKind.GPU ? 1 : Math.max(1, Math.min(CPU_PER_ITEM, units / (LOCAL * 8)));
    int items = roundUp((Math.max(units, 1) + per - 1) / per, LOCAL);
    kernel.op = op;
    kernel.n = units;
    kernel.perItem = per;
    kernel.itemStride = per;
    kernel.elemStride = 1;
    execute(op, Range.create(device, items, LOCAL));
  }

  /**
   * A row op: on the GPU form of the kernel on a GPU, a work-group per row ({@code groupOp}, see
   * {@link RowGroupKernelBase}), else a work unit per row ({@code unitOp}). Not on a CPU device
   * driven as a GPU: there pocl computed the backward row ops wrong for every group but the first
   * (the forward ones right), which is not understood yet; see docs/gpu.md.
   */
  void launchRows(int groupOp, int unitOp, int rows) {
    if (!gpuKernel || device.getType() != Device.TYPE.GPU) {
      launch(unitOp, rows);
      return;
    }
    kernel.op = groupOp;
    kernel.n = rows;
    execute(groupOp, Range.create(device, rows * RowGroupKernelBase.ROW_GROUP, RowGroupKernelBase.ROW_GROUP));
  }

  /** Test hook: launches a NOP with a chosen work-group size (an invalid one makes Aparapi fall back). */
  void launchNop(int workItems, int localSize) {
    kernel.op = Op.NOP;
    kernel.n = workItems;
    kernel.perItem = 1;
    execute(Op.NOP, Range.create(device, roundUp(workItems, localSize), localSize));
  }

  /**
   * Which GPU kernel: {@value #TILES_PROPERTY}=small (the default: only the small matmul tile, see
   * {@link GpuKernel}) or both (the large tile where its blocks fill the GPU, the small one
   * elsewhere: faster matmuls, slower everything else). On an H100, nanoGPT's GPU config trained at
   * 119k tokens/s with small and 98k with both (105k with the large tile alone, before the small one).
   */
  private static TesseraKernel gpuKernelForm() {
    String tiles = System.getProperty(TILES_PROPERTY, "small");
    return switch (tiles) {
      case "both" -> new GpuLargeTileKernel();
      case "small" -> new GpuKernel();
      default -> throw new IllegalArgumentException("-D" + TILES_PROPERTY + "=" + tiles + ": expected both or small");
    };
  }

  /** Whether the kernel has the GPU's large matmul tile. */
  boolean largeTile() {
    return kernel instanceof GpuLargeTileKernel;
  }

  /** Whether this backend runs the GPU form of the kernel ({@link GpuKernel}). */
  boolean gpuKernel() {
    return gpuKernel;
  }

  OpenCLDevice device() {
    return device;
  }

  void execute(int op, Range range) {
    synchronized (APARAPI) {
      if (broken) {
        throw new IllegalStateException("OpenCL backend on " + device.getName() + " failed earlier and cannot be used");
      }
      try {
        // Aparapi keeps device preferences per kernel class, not per object: pin ours again in case
        // another backend (another device) or a failed launch changed them.
        KernelManager.instance().setPreferredDevices(kernel, pinned);
        long t0 = profile != null ? System.nanoTime() : 0;
        // The arguments travel as two small arrays (see KernelArgs); Aparapi applies the puts at this launch.
        if (kernel.pack()) {
          kernel.put(kernel.fa);
        }
        kernel.put(kernel.ia);
        kernel.execute(range);
        if (profile != null) {
          profile.add(op, System.nanoTime() - t0);
        }
      } catch (AssertionError | RuntimeException e) {
        // With a device-bound range Aparapi reports a failed launch this way instead of falling back.
        broken = true;
        throw LaunchFailures.failed(op, device, e);
      }
      launches++;
      Device ran = kernel.getTargetDevice();
      if (ran != device && !device.equals(ran)) {
        broken = true;
        throw LaunchFailures.ranElsewhere(op, ran, device);
      }
    }
  }

  // ---- memory -----------------------------------------------------------------------------------

  @Override
  public Tensor allocate(DType dtype, Shape shape) {
    Tensor t = empty(dtype, shape);
    if (dtype == DType.F32) {
      doFill(t, 0f);
    } else {
      doWriteInts(t, new int[shape.size()]);
    }
    return t;
  }

  @Override
  public Tensor empty(DType dtype, Shape shape) {
    return memory.empty(dtype, shape);
  }

  void free(DeviceTensor t) {
    memory.free(t);
  }

  static int off(Tensor t) {
    return t == null ? 0 : ((DeviceTensor) t).offset;
  }

  @Override
  protected void doWrite(Tensor dst, float[] src) {
    memory.transfer(dst, src, 0, src.length, true);
  }

  @Override
  protected void doWrite(Tensor dst, float[] src, int from) {
    memory.transfer(dst, src, from, dst.size(), true);
  }

  @Override
  protected void doWriteInts(Tensor dst, int[] src) {
    memory.transfer(dst, src, 0, src.length, true);
  }

  @Override
  protected float[] doRead(Tensor src) {
    float[] out = new float[src.size()];
    memory.transfer(src, out, 0, out.length, false);
    return out;
  }

  @Override
  protected void doRead(Tensor src, float[] dst, int at) {
    memory.transfer(src, dst, at, src.size(), false);
  }

  @Override
  protected int[] doReadInts(Tensor src) {
    int[] out = new int[src.size()];
    memory.transfer(src, out, 0, out.length, false);
    return out;
  }

  @Override
  protected void doCopy(Tensor dst, Tensor src) {
    kernel.o0 = off(dst);
    kernel.o1 = off(src);
    launch(src.dtype() == DType.F32 ? Op.COPY : Op.COPY_INT, src.size());
  }

  @Override
  protected Tensor doView(Tensor t, Shape shape) {
    return new DeviceTensor(this, t.dtype(), shape, off(t), false);
  }

  @Override
  public boolean canSlice() {
    return true;
  }

  @Override
  protected Tensor doSlice(Tensor t, int offset, Shape shape) {
    return new DeviceTensor(this, t.dtype(), shape, off(t) + offset, false);
  }

  /** How host transfers go: pinned OpenCL buffers, or Aparapi's staging arrays. */
  public String copies() {
    return memory.copiesDescription();
  }

  @Override
  protected void doFill(Tensor x, float value) {
    kernel.o0 = off(x);
    kernel.s0 = value;
    launch(Op.FILL, x.size());
  }

  /** Nothing to wait for: Aparapi's execute() returns when the launch has finished. */
  @Override
  public void sync() { }

  @Override
  public void close() {
    if (profile != null) {
      System.err.println(profile.report());
    }
    synchronized (APARAPI) {
      memory.close();
      kernel.dispose();
    }
  }

  // ---- matmul -----------------------------------------------------------------------------------

  @Override
  protected void doMatmul(Tensor out, Tensor a, Tensor b, MatmulDims d, float alpha, float beta) {
    MatmulLaunches.run(this, out, a, b, d, alpha, beta);
  }

  /** Temporary device memory for one op; it is uninitialised. */
  Tensor scratch(int elements) {
    return memory.scratch(elements);
  }

  // ---- element-wise and reductions --------------------------------------------------------------

  @Override
  protected void doAdd(Tensor out, Tensor a, Tensor b) {
    set(out, a, b);
    launch(Op.ADD, out.size());
  }

  @Override
  protected void doAddBias(Tensor out, Tensor x, Tensor bias) {
    set(out, x, bias);
    kernel.d0 = bias.size();
    launch(Op.ADD_BIAS, out.size());
  }

  @Override
  protected void doAddBiasBackward(Tensor dBias, Tensor dOut) {
    set(dBias, dOut);
    kernel.d0 = dBias.size();
    kernel.d1 = dOut.shape().rows();
    launch(Op.ADD_BIAS_BACKWARD, dBias.size());
  }

  @Override
  protected void doScale(Tensor x, float alpha) {
    set(x);
    kernel.s0 = alpha;
    launch(Op.SCALE, x.size());
  }

  @Override
  protected void doAxpy(Tensor y, float alpha, Tensor x) {
    set(y, x);
    kernel.s0 = alpha;
    launch(Op.AXPY, y.size());
  }

  @Override
  protected void doSum(Tensor out, Tensor x, boolean squares) {
    // Stages of SUM_PER_ITEM elements per work-item while the input is large (a GPU needs many
    // work-items), then SUM_PARTIALS partials, then one work-item.
    int size = x.size();
    Tensor in = x;
    Tensor prev = null;
    boolean sq = squares;
    while (size > SUM_PARTIALS * SUM_PER_ITEM) {
      int parts = Math.max(SUM_PARTIALS, size / SUM_PER_ITEM);
      Tensor partials = scratch(parts);
      sumStage(partials, in, size, parts, sq);
      if (prev != null) {
        prev.close();
      }
      prev = partials;
      in = partials;
      size = parts;
      sq = false;
    }
    try (Tensor partials = scratch(SUM_PARTIALS)) {
      sumStage(partials, in, size, SUM_PARTIALS, sq);
      set(out, partials);
      kernel.d1 = SUM_PARTIALS;
      launch(Op.SUM_FINAL, 1);
    } finally {
      if (prev != null) {
        prev.close();
      }
    }
  }

  private void sumStage(Tensor partials, Tensor x, int size, int parts, boolean squares) {
    set(partials, x);
    kernel.d0 = size;
    kernel.d1 = parts;
    kernel.d2 = squares ? 1 : 0;
    launch(Op.SUM_PARTIAL, parts);
  }

  @Override
  protected void doGelu(Tensor out, Tensor x) {
    set(out, x);
    launch(Op.GELU, out.size());
  }

  @Override
  protected void doGeluBackward(Tensor dx, Tensor dOut, Tensor x) {
    set(dx, dOut, x);
    launch(Op.GELU_BACKWARD, dx.size());
  }

  @Override
  protected void doSwiglu(Tensor out, Tensor gate, Tensor up) {
    set(out, gate, up);
    launch(Op.SWIGLU, out.size());
  }

  @Override
  protected void doSwigluBackward(Tensor dGate, Tensor dUp, Tensor dOut, Tensor gate, Tensor up) {
    set(dGate, dUp, dOut, gate, up);
    launch(Op.SWIGLU_BACKWARD, dOut.size());
  }

  @Override
  protected void doAdamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
      float eps, float weightDecay, int step) {
    set(param, grad, m, v);
    kernel.s0 = lr;
    kernel.s1 = beta1;
    kernel.s2 = beta2;
    kernel.s3 = eps;
    kernel.s4 = weightDecay;
    kernel.s5 = 1f - (float) Math.pow(beta1, step);
    kernel.s6 = 1f - (float) Math.pow(beta2, step);
    launch(Op.ADAMW, param.size());
  }

  /** Puts tensor offsets into o0, o1, ... in order (null tensors get 0). */
  void set(Tensor... ts) {
    int[] o = new int[9];
    for (int i = 0; i < ts.length; i++) {
      o[i] = off(ts[i]);
    }
    kernel.o0 = o[0];
    kernel.o1 = o[1];
    kernel.o2 = o[2];
    kernel.o3 = o[3];
    kernel.o4 = o[4];
    kernel.o5 = o[5];
    kernel.o6 = o[6];
    kernel.o7 = o[7];
    kernel.o8 = o[8];
  }

  // ---- positions --------------------------------------------------------------------------------

  @Override
  protected void doRope(Tensor out, Tensor x, Tensor freqs, boolean backward) {
    set(out, x, freqs);
    kernel.d0 = x.shape().dim(1);
    kernel.d1 = x.shape().dim(2);
    kernel.d2 = x.shape().dim(3) / 2;
    kernel.d3 = backward ? 1 : 0;
    launch(Op.ROPE, x.size() / 2);
  }

  // ---- attention --------------------------------------------------------------------------------

  @Override
  protected void doAttention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
    attention.forward(out, lse, q, k, v);
  }

  @Override
  protected void doAttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
      Tensor out, Tensor lse) {
    attention.backward(dq, dk, dv, dOut, q, k, v, out, lse);
  }

  // ---- normalisation, embeddings and loss (RowLaunches) ------------------------------------------

  @Override
  protected void doLayerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
    rows.layerNorm(out, mean, rstd, x, weight, bias, eps);
  }

  @Override
  protected void doLayerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd) {
    rows.layerNormBackward(dx, dWeight, dBias, dOut, x, weight, mean, rstd);
  }

  @Override
  protected void doRmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
    rows.rmsNorm(out, rstd, x, weight, eps);
  }

  @Override
  protected void doRmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd) {
    rows.rmsNormBackward(dx, dWeight, dOut, x, weight, rstd);
  }

  @Override
  protected void doEmbedding(Tensor out, Tensor table, Tensor ids, int first, boolean strict) {
    rows.embedding(out, table, ids, first);
  }

  @Override
  protected void doEmbeddingBackward(Tensor dTable, Tensor dOut, Tensor ids, int first, boolean strict) {
    rows.embeddingBackward(dTable, dOut, ids, first);
  }

  @Override
  protected void doCrossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first,
      boolean strict) {
    rows.crossEntropy(losses, lse, logits, targets, first);
  }

  @Override
  protected void doCrossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale,
      int first) {
    rows.crossEntropyBackward(dLogits, logits, targets, lse, lossScale, first);
  }

}
