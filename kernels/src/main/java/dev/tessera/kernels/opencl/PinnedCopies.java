package dev.tessera.kernels.opencl;

import com.aparapi.Kernel;
import com.aparapi.device.OpenCLDevice;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.foreign.MemoryAccess;
import jdk.incubator.foreign.MemorySegment;

/**
 * Host transfers of a backend with device buffers (every GPU) that go straight between a Java array
 * and the arena's OpenCL buffer, through pinned host memory, at the tensor's offset.
 *
 * <p>Aparapi moves only whole Java arrays, from pageable memory: a transfer went through a 4 MiB
 * staging array, a {@code put} or {@code get} of all of it and a launch to move it within the arena,
 * 2.4-3.8 GB/s to an H200 and 1.7-2.4 back. OpenCL itself moved 64 MiB at 6 and 10 GB/s from
 * pageable memory and at 54 GB/s both ways from pinned memory (a buffer made with
 * {@code CL_MEM_ALLOC_HOST_PTR} and mapped once). So this class copies a chunk of the Java array into
 * one of two mapped pinned buffers (the copy split over a few threads: one core's memcpy ran at 5-7
 * GB/s there) while OpenCL moves the other to the device, and the reverse way back.
 *
 * <p>Aparapi does not expose its command queue or buffers, so they are read from its native context
 * (aparapi-jni 1.4.3's {@code JNIContext}, {@code KernelArg} and {@code ArrayBuffer}): the layout is
 * checked before anything is used (the device id where it must be, then the queue's device and
 * context through OpenCL, then each arena buffer's context and size), and a mismatch is an error
 * that names what differed. The copies go on Aparapi's queue, which is in order, and wait for their
 * own end, so they are ordered with the launches around them.
 *
 * <p>Not thread-safe: {@link DeviceMemory} calls it under {@link OpenClBackend#APARAPI}.
 */
final class PinnedCopies implements AutoCloseable {
  /** The system property that picks how host transfers go: {@code pinned} (the default) or {@code aparapi}. */
  static final String PROPERTY = "tessera.gpu.copies";
  /** The system property for the threads that copy between Java arrays and pinned memory. */
  static final String THREADS_PROPERTY = "tessera.gpu.copyThreads";
  /** Bytes of each of the two pinned buffers. */
  static final int CHUNK = 8 << 20;
  /** Least bytes one copying thread takes. */
  private static final int PART = 1 << 20;

  // aparapi-jni 1.4.3 on x86-64, as read from its JNIContext (8 bytes more before the Java
  // references than the aparapi-native sources on GitHub show, and 4 after deviceType): {jint flags;
  // jboolean valid; 8 bytes; jobject kernelObject, openCLDeviceObject; jclass kernelClass;
  // cl_device_id deviceId @40; cl_int deviceType; 4 bytes; cl_context context @56; cl_command_queue
  // commandQueue @64; cl_program program; cl_kernel kernel; jint argc @88; KernelArg** args @96; ...};
  // KernelArg {JNIContext* @0; jobject argObj, javaArg; char* name @24; jint type; ArrayBuffer*
  // arrayBuffer @40; ...}; ArrayBuffer {jobject javaArray; cl_uint length; jint lengthInBytes; cl_mem
  // mem @16; ...}. Every offset is checked (constructor, argument, arenaBuffer) before it is followed.
  private static final long CTX_DEVICE_ID = 40;
  private static final long CTX_CONTEXT = 56;
  private static final long CTX_QUEUE = 64;
  private static final long CTX_ARGC = 88;
  private static final long CTX_ARGS = 96;
  private static final long CTX_BYTES = 104;
  private static final long ARG_CONTEXT = 0;
  private static final long ARG_NAME = 24;
  private static final long ARG_ARRAY_BUFFER = 40;
  private static final long ARG_BYTES = 48;
  private static final long BUFFER_MEM = 16;
  private static final long BUFFER_BYTES = 24;

  private static final Field RUNNER;
  private static final Field HANDLE;

  static {
    try {
      RUNNER = Kernel.class.getDeclaredField("kernelRunner");
      RUNNER.setAccessible(true);
      HANDLE = Class.forName("com.aparapi.internal.kernel.KernelRunner").getDeclaredField("jniContextHandle");
      HANDLE.setAccessible(true);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError("Aparapi's KernelRunner is not the one Tessera knows (3.0.2): " + e);
    }
  }

  private static ExecutorService pool;

  private final ClNative cl;
  private final Kernel kernel;
  private final long deviceId;
  private final long context;
  private final long queue;
  private final long handle;
  private final long[] pinnedMem = new long[2];
  private final MemorySegment[] pinned = new MemorySegment[2];
  private final long[] events = new long[2];
  private final int threads;
  /** Per arena (0: floats, 1: ints): its argument's index in the native context, and its buffer last checked. */
  private final int[] argIndex = new int[2];
  private final long[] checkedMem = new long[2];

  private PinnedCopies(ClNative cl, Kernel kernel, OpenCLDevice device, int threads) {
    this.cl = cl;
    this.kernel = kernel;
    this.deviceId = device.getDeviceId();
    this.threads = threads;
    this.handle = contextHandle(kernel);
    MemorySegment ctx = ClNative.at(handle, CTX_BYTES);
    long seenDevice = MemoryAccess.getLongAtOffset(ctx, CTX_DEVICE_ID);
    if (seenDevice != deviceId) {
      throw new IllegalStateException(String.format("Aparapi's native context does not have the layout of "
          + "aparapi-jni 1.4.3 (device id 0x%x where 0x%x was expected)", seenDevice, deviceId));
    }
    context = MemoryAccess.getLongAtOffset(ctx, CTX_CONTEXT);
    queue = MemoryAccess.getLongAtOffset(ctx, CTX_QUEUE);
    if (cl.queueInfo(queue, ClNative.CL_QUEUE_DEVICE) != deviceId
        || cl.queueInfo(queue, ClNative.CL_QUEUE_CONTEXT) != context) {
      throw new IllegalStateException("the command queue read from Aparapi's native context is not its device's");
    }
    if ((cl.queueInfo(queue, ClNative.CL_QUEUE_PROPERTIES) & ClNative.CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0) {
      throw new IllegalStateException("Aparapi's command queue runs out of order: copies would not be ordered "
          + "with launches");
    }
    argIndex[0] = argument("mem");
    argIndex[1] = argument("imem");
    try {
      for (int i = 0; i < 2; i++) {
        pinnedMem[i] = cl.createPinned(context, CHUNK);
        pinned[i] = ClNative.at(cl.map(queue, pinnedMem[i], CHUNK), CHUNK);
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /**
   * The pinned copies for {@code kernel}'s arenas on {@code device}, whose kernel has run once (its
   * buffers exist). Throws with the reason when they cannot be used: the JVM was started without
   * the foreign linker ({@code bin/jvm-options --gpu}), or Aparapi's native side is not the known one.
   */
  static PinnedCopies open(Kernel kernel, OpenCLDevice device) {
    try {
      return new PinnedCopies(ClNative.load(), kernel, device, copyThreads());
    } catch (NoClassDefFoundError e) {
      throw new IllegalStateException("the JVM has no foreign linker: start it with --add-modules "
          + "jdk.incubator.foreign --enable-native-access=ALL-UNNAMED (bin/jvm-options --gpu)", e);
    } catch (IllegalCallerException e) {
      throw new IllegalStateException("native access is not enabled: start the JVM with "
          + "--enable-native-access=ALL-UNNAMED (bin/jvm-options --gpu)", e);
    }
  }

  /** Whether host transfers of device buffers should take this path (the property {@value #PROPERTY}). */
  static boolean wanted() {
    String mode = System.getProperty(PROPERTY, "pinned");
    return switch (mode) {
      case "pinned" -> true;
      case "aparapi" -> false;
      default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + mode + ": expected pinned or aparapi");
    };
  }

  /** Whether the property asked for this path by name (then failing to open it is an error, not a warning). */
  static boolean required() {
    return System.getProperty(PROPERTY) != null && wanted();
  }

  private static int copyThreads() {
    int cores = Runtime.getRuntime().availableProcessors();
    int n = Integer.getInteger(THREADS_PROPERTY, Math.max(1, Math.min(4, cores / 2)));
    if (n < 1) {
      throw new IllegalArgumentException("-D" + THREADS_PROPERTY + "=" + n + ": expected at least 1");
    }
    return n;
  }

  String describe() {
    return "pinned OpenCL buffers (2 x " + (CHUNK >> 20) + " MiB), " + threads + " copy thread"
        + (threads == 1 ? "" : "s");
  }

  private static long contextHandle(Kernel kernel) {
    try {
      Object runner = RUNNER.get(kernel);
      long h = runner == null ? 0 : HANDLE.getLong(runner);
      if (h == 0) {
        throw new IllegalStateException("the kernel has no native context yet (it has not run)");
      }
      return h;
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot read Aparapi's native context handle", e);
    }
  }

  /** The index of the kernel argument for the field {@code name} among the native context's arguments. */
  private int argument(String name) {
    MemorySegment ctx = ClNative.at(handle, CTX_BYTES);
    int argc = MemoryAccess.getIntAtOffset(ctx, CTX_ARGC);
    if (argc < 1 || argc > 4096) {
      throw new IllegalStateException("Aparapi's native context holds " + argc + " arguments");
    }
    MemorySegment args = ClNative.at(MemoryAccess.getLongAtOffset(ctx, CTX_ARGS), 8L * argc);
    List<String> names = new ArrayList<>();
    for (int i = 0; i < argc; i++) {
      MemorySegment arg = ClNative.at(MemoryAccess.getLongAtOffset(args, 8L * i), ARG_BYTES);
      if (MemoryAccess.getLongAtOffset(arg, ARG_CONTEXT) != handle) {
        throw new IllegalStateException("Aparapi's kernel argument " + i + " does not point back at its native "
            + "context: not the layout of aparapi-jni 1.4.3");
      }
      String n = cString(MemoryAccess.getLongAtOffset(arg, ARG_NAME));
      if (n.equals(name)) {
        return i;
      }
      names.add(n);
    }
    throw new IllegalStateException("no kernel argument " + name + " in Aparapi's native context (it has "
        + names + ")");
  }

  private static String cString(long address) {
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < 256; i++) {
      byte b = MemoryAccess.getByte(ClNative.at(address + i, 1));
      if (b == 0) {
        return s.toString();
      }
      s.append((char) b);
    }
    return s.toString();
  }

  /** The OpenCL buffer of arena {@code which} (0: floats, 1: ints), checked whenever it changed (growth). */
  private long arenaBuffer(int which, long expectedBytes) {
    if (contextHandle(kernel) != handle) {
      throw new IllegalStateException("Aparapi replaced the kernel's native context");
    }
    MemorySegment ctx = ClNative.at(handle, CTX_BYTES);
    MemorySegment args = ClNative.at(MemoryAccess.getLongAtOffset(ctx, CTX_ARGS), 8L * (argIndex[which] + 1));
    MemorySegment arg = ClNative.at(MemoryAccess.getLongAtOffset(args, 8L * argIndex[which]), ARG_BYTES);
    MemorySegment buffer = ClNative.at(MemoryAccess.getLongAtOffset(arg, ARG_ARRAY_BUFFER), BUFFER_BYTES);
    long mem = MemoryAccess.getLongAtOffset(buffer, BUFFER_MEM);
    if (mem != checkedMem[which]) {
      if (mem == 0 || cl.memInfo(mem, ClNative.CL_MEM_CONTEXT) != context) {
        throw new IllegalStateException("the " + (which == 0 ? "float" : "int") + " arena has no buffer of this "
            + "context in Aparapi's native context");
      }
      long size = cl.memInfo(mem, ClNative.CL_MEM_SIZE);
      if (size != expectedBytes) {
        throw new IllegalStateException("the " + (which == 0 ? "float" : "int") + " arena's OpenCL buffer holds "
            + size + " bytes, its array " + expectedBytes);
      }
      checkedMem[which] = mem;
    }
    return mem;
  }

  /**
   * Moves {@code length} elements between {@code host} (a float[] or an int[], from element
   * {@code hostOffset}) and the arena of its type at element {@code offset}; {@code arenaElements} is
   * the arena array's length.
   */
  void transfer(Object host, int hostOffset, long offset, int length, int arenaElements, boolean toDevice) {
    if (length == 0) {
      return; // OpenCL refuses a copy of 0 bytes
    }
    boolean ints = host instanceof int[];
    long mem = arenaBuffer(ints ? 1 : 0, 4L * arenaElements);
    MemorySegment h = (ints ? MemorySegment.ofArray((int[]) host) : MemorySegment.ofArray((float[]) host))
        .asSlice(4L * hostOffset, 4L * length);
    long bytes = 4L * length;
    long base = 4L * offset;
    try {
      if (toDevice) {
        int b = 0;
        for (long done = 0; done < bytes; done += CHUNK, b ^= 1) {
          long len = Math.min(CHUNK, bytes - done);
          cl.await(events[b]); // this buffer's last copy has left it
          events[b] = 0;
          copy(h.asSlice(done, len), pinned[b]);
          events[b] = cl.enqueue(true, queue, mem, base + done, len, pinned[b].address().toRawLongValue());
        }
      } else {
        long first = Math.min(CHUNK, bytes);
        events[0] = cl.enqueue(false, queue, mem, base, first, pinned[0].address().toRawLongValue());
        int b = 0;
        for (long done = 0; done < bytes; done += CHUNK, b ^= 1) {
          long len = Math.min(CHUNK, bytes - done);
          long next = done + CHUNK;
          if (next < bytes) { // the other buffer was emptied into the host in the round before
            events[b ^ 1] = cl.enqueue(false, queue, mem, base + next, Math.min(CHUNK, bytes - next),
                pinned[b ^ 1].address().toRawLongValue());
          }
          cl.await(events[b]);
          events[b] = 0;
          copy(pinned[b].asSlice(0, len), h.asSlice(done, len));
        }
      }
    } finally {
      for (int i = 0; i < 2; i++) {
        cl.await(events[i]);
        events[i] = 0;
      }
    }
  }

  /** Copies {@code from} into the start of {@code to}, split over the copy threads when large. */
  private void copy(MemorySegment from, MemorySegment to) {
    long bytes = from.byteSize();
    int parts = (int) Math.min(threads, Math.max(1, bytes / PART));
    if (parts == 1) {
      to.asSlice(0, bytes).copyFrom(from);
      return;
    }
    long step = (bytes / parts + 63) & ~63L;
    List<Callable<Void>> work = new ArrayList<>(parts);
    for (long at = 0; at < bytes; at += step) {
      long start = at;
      long len = Math.min(step, bytes - at);
      work.add(() -> {
        to.asSlice(start, len).copyFrom(from.asSlice(start, len));
        return null;
      });
    }
    try {
      for (Future<Void> f : pool(threads).invokeAll(work)) {
        f.get();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while copying to or from pinned memory", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("a copy to or from pinned memory failed", e.getCause());
    }
  }

  private static synchronized ExecutorService pool(int threads) {
    if (pool == null) {
      pool = Executors.newFixedThreadPool(threads, r -> {
        Thread t = new Thread(r, "tessera-pinned-copy");
        t.setDaemon(true);
        return t;
      });
    }
    return pool;
  }

  /** Unmaps and releases the pinned buffers; call before the kernel's context goes. */
  @Override
  public void close() {
    for (int i = 0; i < 2; i++) {
      if (pinnedMem[i] != 0) {
        cl.unmapAndRelease(queue, pinnedMem[i], pinned[i] == null ? 0 : pinned[i].address().toRawLongValue());
        pinnedMem[i] = 0;
        pinned[i] = null;
      }
    }
  }
}
