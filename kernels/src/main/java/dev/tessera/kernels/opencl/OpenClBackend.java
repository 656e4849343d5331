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
import java.util.Arrays;
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
  /** Elements per host transfer chunk (4 MiB of floats). */
  static final int STAGE = 1 << 20;
  /** Partial sums of a reduction's last stage; earlier stages cut the input to this many. */
  static final int SUM_PARTIALS = 256;
  /** Elements each work-item of a reduction's earlier stages sums. */
  static final int SUM_PER_ITEM = 32;
  /** Chunks of rows the norm parameter gradients are summed in (then the chunks are summed). */
  static final int NORM_CHUNKS = 64;
  /** Chunks of rows the embedding gradient is summed in, and the most scratch (floats) they may take. */
  static final int EMBEDDING_CHUNKS = 64;
  static final long EMBEDDING_SCRATCH = 4L << 20;
  /** Elements of the small staging buffers. */
  static final int SMALL_STAGE = 1 << 14;
  /** Smallest arenas with device buffers: 64 MiB and 32 MiB, above G1's humongous threshold. */
  static final int MIN_DEVICE_FLOATS = 16 << 20;
  static final int MIN_DEVICE_INTS = 8 << 20;
  private static final org.apache.logging.log4j.Logger LOG =
      org.apache.logging.log4j.LogManager.getLogger(OpenClBackend.class);

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
  private final DeviceArena floats;
  private final DeviceArena ints;
  private long bytesToDevice;
  private long bytesToHost;
  private long launches;
  private boolean broken;
  private final AttentionLaunches attention;
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
    this.kernel = gpuKernel ? gpuKernelForm() : new CpuKernel();
    this.gpuKernel = gpuKernel;
    if (device.getType() == Device.TYPE.GPU) {
      device.setSharedMemory(false);
    }
    kernel.setExplicit(true);
    pinned = new LinkedHashSet<>(List.of(device));
    // With device buffers (every GPU), Aparapi re-creates the buffer of an array that the garbage
    // collector moved and fills it from the host copy, which is stale: device data would be lost.
    // G1 never moves humongous arrays (over half a region, at most 16 MiB on JDK 17), so the arenas
    // start above that. With shared host memory (pocl) the kernel works on the Java arrays themselves:
    // there every array a kernel writes (arenas, small staging arrays) is made large enough never to
    // move either; before that, multi-worker runs on pocl now and then overwrote the Java heap
    // (docs/kernels.md).
    boolean deviceBuffers = !device.isSharedMemory();
    int unmovable = deviceBuffers ? 0 : unmovableElements();
    floats = new DeviceArena("float", deviceBuffers ? Math.max(initialElements, MIN_DEVICE_FLOATS)
        : DeviceArena.aligned(Math.max(initialElements, unmovable)));
    ints = new DeviceArena("int", deviceBuffers ? MIN_DEVICE_INTS
        : DeviceArena.aligned(Math.max(Math.max(DeviceArena.ALIGN, initialElements / 16), unmovable)));
    if (deviceBuffers && !usesG1()) {
      LOG.warn("the JVM does not use the G1 collector: device data may be lost when the collector moves an arena "
          + "array (run with -XX:+UseG1GC)");
    }
    kernel.mem = new float[floats.capacity()];
    kernel.imem = new int[ints.capacity()];
    kernel.stage = new float[STAGE];
    kernel.istage = new int[STAGE];
    kernel.stageSmall = new float[Math.max(SMALL_STAGE, unmovable)];
    kernel.istageSmall = new int[Math.max(SMALL_STAGE, unmovable)];
    synchronized (APARAPI) {
      launch(Op.NOP, 1); // compiles the kernel and creates the device buffers
      kernel.put(kernel.mem).put(kernel.imem).put(kernel.stage).put(kernel.istage).put(kernel.stageSmall)
          .put(kernel.istageSmall).put(kernel.fa);
      launch(Op.NOP, 1); // applies those puts now (see grow)
    }
    int maxGroup = maxWorkGroupSize();
    int tileItems = gpuKernel ? GpuMatmulKernelBase.GPU_ITEMS : MatmulKernelBase.TILE_COLS;
    if (maxGroup < tileItems) {
      throw new DeviceUnavailableException("OpenCL device " + device.getName() + " allows work-groups of only "
          + maxGroup + " work-items for Tessera's kernel; the matmul needs " + tileItems);
    }
  }

  /**
   * Elements (4 bytes each) of an array G1 never moves: over half a heap region. Without G1 (whose
   * region size is unknown), 16 MiB, above every G1 threshold.
   */
  static int unmovableElements() {
    long region = 32L << 20;
    try {
      var bean = java.lang.management.ManagementFactory.getPlatformMXBean(
          com.sun.management.HotSpotDiagnosticMXBean.class);
      if (usesG1()) {
        region = Long.parseLong(bean.getVMOption("G1HeapRegionSize").getValue());
      }
    } catch (RuntimeException e) {
      // keep the largest region size
    }
    return (int) (region / 2 / 4) + 64;
  }

  private static boolean usesG1() {
    for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc.getName().startsWith("G1")) {
        return true;
      }
    }
    return false;
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
    return bytesToDevice;
  }

  public long bytesToHost() {
    return bytesToHost;
  }

  public long launches() {
    return launches;
  }

  @Override
  public long peakDeviceBytes() {
    return 4 * (floats.peak() + ints.peak());
  }

  /** Floats in use in the device arena, and its capacity. */
  public String memoryReport() {
    return floats + "; " + ints;
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

  /** Whether this backend runs the GPU form of the kernel ({@link GpuKernel}). */
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
        throw new DeviceUnavailableException("op " + op + " failed to run on OpenCL device '" + device.getName().trim()
            + "' (" + e.getMessage() + "); run with -Dcom.aparapi.enableShowGeneratedOpenCL=true and check the log", e);
      }
      launches++;
      Device ran = kernel.getTargetDevice();
      if (ran != device && !device.equals(ran)) {
        broken = true;
        throw new DeviceUnavailableException("Aparapi ran op " + op + " on " + ran + " instead of OpenCL device '"
            + device.getName().trim() + "' (it falls back silently when a kernel fails to build or launch); "
            + "run with -Dcom.aparapi.enableShowGeneratedOpenCL=true and check the log for the cause");
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
    DeviceArena arena = dtype == DType.F32 ? floats : ints;
    int off = arena.allocate(shape.size());
    if (off < 0) {
      grow(dtype, shape.size());
      off = arena.allocate(shape.size());
    }
    return new DeviceTensor(this, dtype, shape, off);
  }

  void free(DeviceTensor t) {
    (t.dtype() == DType.F32 ? floats : ints).release(t.offset, t.size());
  }

  /** Enlarges an arena: the device copy comes to the host, moves to a bigger array and goes back. */
  private void grow(DType dtype, int needed) {
    synchronized (APARAPI) {
      DeviceArena arena = dtype == DType.F32 ? floats : ints;
      long want = Math.max(2L * arena.capacity(), (long) arena.capacity() + DeviceArena.aligned(needed));
      // Aparapi's native side sizes buffers in a 32-bit int of bytes: an arena of 2 GiB or more fails
      // to allocate ("clCreateBuffer failed out of host memory"), so one arena stays below 2^29 floats.
      long limit = Math.min(MAX_ARENA_ELEMENTS, device.getMaxMemAllocSize() / 4);
      if (want > limit) {
        want = limit;
        if (want < (long) arena.capacity() + DeviceArena.aligned(needed)) {
          throw new DeviceUnavailableException("out of device memory on " + device.getName().trim() + ": " + arena
              + "; need " + needed + " more elements, one buffer may hold at most " + limit);
        }
      }
      // Aparapi matches a put() against the arrays bound at the last launch and applies it at the next
      // one. A put() of the new array before it is bound would be applied a launch late, overwriting
      // the device copy with a stale host one. So: bind the new array with a launch, then put it and
      // apply the put at once with another.
      if (dtype == DType.F32) {
        kernel.get(kernel.mem);
        kernel.mem = Arrays.copyOf(kernel.mem, (int) want);
        launch(Op.NOP, 1);
        kernel.put(kernel.mem);
      } else {
        kernel.get(kernel.imem);
        kernel.imem = Arrays.copyOf(kernel.imem, (int) want);
        launch(Op.NOP, 1);
        kernel.put(kernel.imem);
      }
      launch(Op.NOP, 1);
      arena.grow((int) want);
    }
  }

  static int off(Tensor t) {
    return t == null ? 0 : ((DeviceTensor) t).offset;
  }

  @Override
  protected void doWrite(Tensor dst, float[] src) {
    transfer(dst, src, src.length, true, false);
  }

  @Override
  protected void doWriteInts(Tensor dst, int[] src) {
    transfer(dst, src, src.length, true, true);
  }

  @Override
  protected float[] doRead(Tensor src) {
    float[] out = new float[src.size()];
    transfer(src, out, out.length, false, false);
    return out;
  }

  @Override
  protected int[] doReadInts(Tensor src) {
    int[] out = new int[src.size()];
    transfer(src, out, out.length, false, true);
    return out;
  }

  /**
   * Moves {@code length} elements between tensor {@code t} and {@code host} (a float[] or an int[])
   * through a staging buffer: the small one for transfers that fit it (Aparapi moves whole arrays),
   * else the 4 MiB one, chunk by chunk.
   */
  private void transfer(Tensor t, Object host, int length, boolean toDevice, boolean ints) {
    synchronized (APARAPI) {
      boolean small = length <= SMALL_STAGE;
      int chunk = small ? SMALL_STAGE : STAGE;
      Object buf = ints ? (small ? kernel.istageSmall : kernel.istage) : (small ? kernel.stageSmall : kernel.stage);
      int op = toDevice ? (ints ? Op.STAGE_IN_INT : Op.STAGE_IN) : (ints ? Op.STAGE_OUT_INT : Op.STAGE_OUT);
      for (int done = 0; done < length; done += chunk) {
        int len = Math.min(chunk, length - done);
        if (toDevice) {
          System.arraycopy(host, done, buf, 0, len);
          if (buf instanceof float[] f) {
            kernel.put(f);
          } else {
            kernel.put((int[]) buf);
          }
          bytesToDevice += 4L * chunk;
          stage(op, off(t) + done, len, small);
        } else {
          stage(op, off(t) + done, len, small);
          if (buf instanceof float[] f) {
            kernel.get(f);
          } else {
            kernel.get((int[]) buf);
          }
          bytesToHost += 4L * chunk;
          System.arraycopy(buf, 0, host, done, len);
        }
      }
    }
  }

  /** A staging launch: elements [offset, offset + len) of an arena to or from a staging buffer. */
  private void stage(int op, int offset, int len, boolean small) {
    kernel.o0 = offset;
    kernel.d0 = small ? 1 : 0;
    launch(op, len);
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
    int off = floats.allocate(elements);
    if (off < 0) {
      grow(DType.F32, elements);
      off = floats.allocate(elements);
    }
    return new DeviceTensor(this, DType.F32, Shape.of(Math.max(elements, 1)), off);
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

  // ---- normalisation ----------------------------------------------------------------------------

  @Override
  protected void doLayerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
    set(out, mean, rstd, x, weight, bias);
    kernel.d0 = x.shape().last();
    kernel.d1 = bias == null ? 0 : 1;
    kernel.s0 = eps;
    launchRows(Op.LAYER_NORM_ROWS, Op.LAYER_NORM, x.shape().rows());
  }

  @Override
  protected void doLayerNormBackward(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor weight,
      Tensor mean, Tensor rstd) {
    set(dx, dOut, x, weight, mean, rstd);
    kernel.d0 = x.shape().last();
    launchRows(Op.LAYER_NORM_BACKWARD_DX_ROWS, Op.LAYER_NORM_BACKWARD_DX, x.shape().rows());
    normParams(dWeight, dBias, dOut, x, mean, rstd);
  }

  private void normParams(Tensor dWeight, Tensor dBias, Tensor dOut, Tensor x, Tensor mean, Tensor rstd) {
    int cols = x.shape().last();
    int rows = x.shape().rows();
    int chunks = Math.min(rows, NORM_CHUNKS);
    int rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    try (Tensor partials = scratch(2 * chunks * cols)) {
      set(dWeight, dBias, dOut, x, mean, rstd, partials);
      kernel.d0 = cols;
      kernel.d1 = rows;
      kernel.d2 = dBias == null ? 0 : 1;
      kernel.d3 = mean == null ? 0 : 1;
      kernel.d4 = rowsPerChunk;
      launch(Op.NORM_BACKWARD_PARAMS, chunks * cols);
      launch(Op.NORM_BACKWARD_PARAMS_SUM, cols);
    }
  }

  @Override
  protected void doRmsNorm(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
    set(out, rstd, x, weight);
    kernel.d0 = x.shape().last();
    kernel.s0 = eps;
    launch(Op.RMS_NORM, x.shape().rows());
  }

  @Override
  protected void doRmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOut, Tensor x, Tensor weight, Tensor rstd) {
    set(dx, dOut, x, weight, rstd);
    kernel.d0 = x.shape().last();
    launch(Op.RMS_NORM_BACKWARD_DX, x.shape().rows());
    normParams(dWeight, null, dOut, x, null, rstd);
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

  // ---- embeddings and loss ----------------------------------------------------------------------

  @Override
  protected void doEmbedding(Tensor out, Tensor table, Tensor ids, int first, boolean strict) {
    // Ids outside the table give zero rows here, strict or not (the ids are on the device).
    set(out, table, ids);
    kernel.d0 = table.shape().last();
    kernel.d1 = table.shape().dim(0);
    kernel.d5 = first;
    launch(Op.EMBEDDING, out.size());
  }

  @Override
  protected void doEmbeddingBackward(Tensor dTable, Tensor dOut, Tensor ids, int first, boolean strict) {
    kernel.d5 = first;
    int cols = dTable.shape().last();
    int vocab = dTable.shape().dim(0);
    int rows = ids.size();
    // Chunks of rows, each into a partial table, while the partial tables stay small (with a
    // large vocabulary they would not: then one work-item per column, as before).
    int chunks = (int) Math.min(Math.min(EMBEDDING_CHUNKS, rows), EMBEDDING_SCRATCH / ((long) vocab * cols));
    if (chunks <= 1) {
      set(dTable, dOut, ids);
      kernel.d0 = cols;
      kernel.d1 = vocab;
      kernel.d2 = rows;
      launch(Op.EMBEDDING_BACKWARD, cols);
      return;
    }
    int rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    try (Tensor partials = scratch(chunks * vocab * cols)) {
      set(dTable, dOut, ids, partials);
      kernel.d0 = cols;
      kernel.d1 = vocab;
      kernel.d2 = rows;
      kernel.d3 = rowsPerChunk;
      kernel.d4 = chunks;
      launch(Op.EMBEDDING_BACKWARD_CHUNK, chunks * cols);
      launch(Op.EMBEDDING_BACKWARD_SUM, vocab * cols);
    }
  }

  @Override
  protected void doCrossEntropy(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int first,
      boolean strict) {
    set(losses, lse, logits, targets);
    kernel.d0 = logits.shape().last();
    kernel.d5 = first;
    launch(Op.CROSS_ENTROPY, logits.shape().rows());
  }

  @Override
  protected void doCrossEntropyBackward(Tensor dLogits, Tensor logits, Tensor targets, Tensor lse, float lossScale,
      int first) {
    set(dLogits, logits, targets, lse);
    kernel.d0 = logits.shape().last();
    kernel.d5 = first;
    kernel.s0 = lossScale;
    launch(Op.CROSS_ENTROPY_BACKWARD, logits.size());
  }
}
