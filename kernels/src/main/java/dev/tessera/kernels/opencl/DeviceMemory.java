package dev.tessera.kernels.opencl;

import com.aparapi.device.OpenCLDevice;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.DeviceUnavailableException;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;
import java.util.Arrays;

/**
 * The device memory of one {@link OpenClBackend}: the float and int arenas (the kernel's {@code mem}
 * and {@code imem} arrays, whose device copies hold every tensor), their growth, and the moves between
 * the host and the device through the kernel's staging buffers. Aparapi's constraints on these arrays
 * (../shared/notes/platform-facts.md, docs/kernels.md) are kept here, in one place: an array the
 * garbage collector moves loses its device data, and a {@code put} applies at the next launch only
 * for an array already bound. Not thread-safe: the backend serialises access.
 */
final class DeviceMemory {
  /** Elements per host transfer chunk (4 MiB of floats). */
  static final int STAGE = 1 << 20;
  /** Elements of the small staging buffers. */
  static final int SMALL_STAGE = 1 << 14;
  /** Smallest arenas with device buffers: 64 MiB and 32 MiB, above G1's humongous threshold. */
  static final int MIN_DEVICE_FLOATS = 16 << 20;
  static final int MIN_DEVICE_INTS = 8 << 20;
  private static final org.apache.logging.log4j.Logger LOG =
      org.apache.logging.log4j.LogManager.getLogger(DeviceMemory.class);

  private final OpenClBackend backend;
  private final OpenCLDevice device;
  private final TesseraKernel kernel;
  private final DeviceArena floats;
  private final DeviceArena ints;
  /** Host transfers straight into the arenas' device buffers, or null: through Aparapi's staging arrays. */
  private PinnedCopies copies;
  /** Whether this JVM logged the pinned path, and whether it warned of staging (once each). */
  private static final java.util.concurrent.atomic.AtomicBoolean TOLD_PINNED =
      new java.util.concurrent.atomic.AtomicBoolean();
  private static final java.util.concurrent.atomic.AtomicBoolean TOLD_STAGING =
      new java.util.concurrent.atomic.AtomicBoolean();
  private long bytesToDevice;
  private long bytesToHost;

  /** Sizes the arenas and the staging buffers and sets them on the kernel ({@link #bind} uploads them). */
  DeviceMemory(OpenClBackend backend, OpenCLDevice device, TesseraKernel kernel, int initialElements) {
    this.backend = backend;
    this.device = device;
    this.kernel = kernel;
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
  }

  /** Compiles the kernel, creates the device buffers of its arrays and uploads them. */
  void bind() {
    synchronized (OpenClBackend.APARAPI) {
      backend.launch(Op.NOP, 1); // compiles the kernel and creates the device buffers
      kernel.put(kernel.mem).put(kernel.imem).put(kernel.stage).put(kernel.istage).put(kernel.stageSmall)
          .put(kernel.istageSmall).put(kernel.fa);
      backend.launch(Op.NOP, 1); // applies those puts now (see grow)
      if (!device.isSharedMemory() && PinnedCopies.wanted()) {
        openCopies();
      }
    }
  }

  /**
   * Host transfers through pinned memory ({@link PinnedCopies}) where they can be had. Asked for by
   * name ({@code -Dtessera.gpu.copies=pinned}) and missing, that is an error; by default a warning,
   * once per JVM, says why and how slow the other path is, and transfers go through Aparapi.
   */
  private void openCopies() {
    try {
      copies = PinnedCopies.open(kernel, device);
      if (!TOLD_PINNED.getAndSet(true)) {
        LOG.info("host transfers: {}", copies.describe());
      }
    } catch (IllegalStateException e) {
      String why = e.getMessage() + (e.getCause() == null ? "" : " (" + e.getCause() + ")");
      if (PinnedCopies.required()) {
        throw new DeviceUnavailableException("-D" + PinnedCopies.PROPERTY + "=pinned: " + why, e);
      }
      if (!TOLD_STAGING.getAndSet(true)) {
        LOG.warn("host transfers go through Aparapi's staging arrays (2-4 GB/s to an H200, where pinned memory "
            + "moves ~50): {}", why);
      }
    }
  }

  /** How host transfers go, for the logs and tests. */
  String copiesDescription() {
    return copies != null ? copies.describe() : "Aparapi staging arrays";
  }

  /** Releases the pinned buffers; before the kernel is disposed. */
  void close() {
    if (copies != null) {
      copies.close();
      copies = null;
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

  long bytesToDevice() {
    return bytesToDevice;
  }

  long bytesToHost() {
    return bytesToHost;
  }

  long peakBytes() {
    return 4 * (floats.peak() + ints.peak());
  }

  @Override
  public String toString() {
    return floats + "; " + ints;
  }

  // ---- tensors ----------------------------------------------------------------------------------

  /** An uninitialised tensor in the arena of its type, which grows if it has no room. */
  Tensor empty(DType dtype, Shape shape) {
    return new DeviceTensor(backend, dtype, shape, allocate(dtype, shape.size()));
  }

  /** Temporary float memory for one op (at least one element); it is uninitialised. */
  Tensor scratch(int elements) {
    return new DeviceTensor(backend, DType.F32, Shape.of(Math.max(elements, 1)), allocate(DType.F32, elements));
  }

  void free(DeviceTensor t) {
    (t.dtype() == DType.F32 ? floats : ints).release(t.offset, t.size());
  }

  private int allocate(DType dtype, int elements) {
    DeviceArena arena = dtype == DType.F32 ? floats : ints;
    int off = arena.allocate(elements);
    if (off < 0) {
      grow(dtype, elements);
      off = arena.allocate(elements);
    }
    return off;
  }

  /** Enlarges an arena: the device copy comes to the host, moves to a bigger array and goes back. */
  private void grow(DType dtype, int needed) {
    synchronized (OpenClBackend.APARAPI) {
      DeviceArena arena = dtype == DType.F32 ? floats : ints;
      long want = Math.max(2L * arena.capacity(), (long) arena.capacity() + DeviceArena.aligned(needed));
      // Aparapi's native side sizes buffers in a 32-bit int of bytes: an arena of 2 GiB or more fails
      // to allocate ("clCreateBuffer failed out of host memory"), so one arena stays below 2^29 floats.
      long limit = Math.min(OpenClBackend.MAX_ARENA_ELEMENTS, device.getMaxMemAllocSize() / 4);
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
        backend.launch(Op.NOP, 1);
        kernel.put(kernel.mem);
      } else {
        kernel.get(kernel.imem);
        kernel.imem = Arrays.copyOf(kernel.imem, (int) want);
        backend.launch(Op.NOP, 1);
        kernel.put(kernel.imem);
      }
      backend.launch(Op.NOP, 1);
      arena.grow((int) want);
    }
  }

  // ---- host transfers ---------------------------------------------------------------------------

  /**
   * Moves {@code length} elements between tensor {@code t} and {@code host} (a float[] or an int[],
   * from element {@code hostOffset}): through pinned memory where {@link PinnedCopies} is open, else
   * through a staging buffer, the small one for transfers that fit it (Aparapi moves whole arrays),
   * else the 4 MiB one, chunk by chunk.
   */
  void transfer(Tensor t, Object host, int hostOffset, int length, boolean toDevice) {
    boolean isInts = host instanceof int[];
    synchronized (OpenClBackend.APARAPI) {
      if (copies != null) {
        copies.transfer(host, hostOffset, OpenClBackend.off(t), length, isInts ? kernel.imem.length : kernel.mem.length,
            toDevice);
        if (toDevice) {
          bytesToDevice += 4L * length;
        } else {
          bytesToHost += 4L * length;
        }
        return;
      }
      boolean small = length <= SMALL_STAGE;
      int chunk = small ? SMALL_STAGE : STAGE;
      Object buf = isInts ? (small ? kernel.istageSmall : kernel.istage) : (small ? kernel.stageSmall : kernel.stage);
      int op = toDevice ? (isInts ? Op.STAGE_IN_INT : Op.STAGE_IN) : (isInts ? Op.STAGE_OUT_INT : Op.STAGE_OUT);
      for (int done = 0; done < length; done += chunk) {
        int len = Math.min(chunk, length - done);
        if (toDevice) {
          System.arraycopy(host, hostOffset + done, buf, 0, len);
          if (buf instanceof float[] f) {
            kernel.put(f);
          } else {
            kernel.put((int[]) buf);
          }
          bytesToDevice += 4L * chunk;
          stage(op, OpenClBackend.off(t) + done, len, small);
        } else {
          stage(op, OpenClBackend.off(t) + done, len, small);
          if (buf instanceof float[] f) {
            kernel.get(f);
          } else {
            kernel.get((int[]) buf);
          }
          bytesToHost += 4L * chunk;
          System.arraycopy(buf, 0, host, hostOffset + done, len);
        }
      }
    }
  }

  /** A staging launch: elements [offset, offset + len) of an arena to or from a staging buffer. */
  private void stage(int op, int offset, int len, boolean small) {
    kernel.o0 = offset;
    kernel.d0 = small ? 1 : 0;
    backend.launch(op, len);
  }
}
