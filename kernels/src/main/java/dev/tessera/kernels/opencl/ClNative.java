package dev.tessera.kernels.opencl;

import static jdk.incubator.foreign.CLinker.C_INT;
import static jdk.incubator.foreign.CLinker.C_LONG;
import static jdk.incubator.foreign.CLinker.C_POINTER;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.nio.file.Files;
import java.nio.file.Path;
import jdk.incubator.foreign.CLinker;
import jdk.incubator.foreign.FunctionDescriptor;
import jdk.incubator.foreign.MemoryAccess;
import jdk.incubator.foreign.MemoryAddress;
import jdk.incubator.foreign.MemorySegment;
import jdk.incubator.foreign.ResourceScope;
import jdk.incubator.foreign.SymbolLookup;

/**
 * The few OpenCL calls {@link PinnedCopies} makes itself, bound with JDK 17's foreign linker
 * ({@code jdk.incubator.foreign}) to the OpenCL library Aparapi's native side already loaded. Handles
 * ({@code cl_mem}, {@code cl_command_queue}, ...) are raw addresses as longs. Every call that fails
 * throws with the call's name and OpenCL's status.
 *
 * <p>Needs the JVM options {@code --add-modules jdk.incubator.foreign --enable-native-access=ALL-UNNAMED}
 * ({@code bin/jvm-options --gpu}); without them loading this class fails, which {@link PinnedCopies#open}
 * reports.
 */
final class ClNative {
  static final int CL_MEM_READ_WRITE = 1;
  static final int CL_MEM_ALLOC_HOST_PTR = 1 << 4;
  static final int CL_MAP_READ = 1;
  static final int CL_MAP_WRITE = 2;
  static final int CL_QUEUE_CONTEXT = 0x1090;
  static final int CL_QUEUE_DEVICE = 0x1091;
  static final int CL_QUEUE_PROPERTIES = 0x1093;
  static final int CL_MEM_SIZE = 0x1102;
  static final int CL_MEM_CONTEXT = 0x1106;
  static final long CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE = 1;

  private final MethodHandle getQueueInfo;
  private final MethodHandle getMemInfo;
  private final MethodHandle createBuffer;
  private final MethodHandle mapBuffer;
  private final MethodHandle unmap;
  private final MethodHandle releaseMem;
  private final MethodHandle writeBuffer;
  private final MethodHandle readBuffer;
  private final MethodHandle waitForEvents;
  private final MethodHandle releaseEvent;
  private final MethodHandle finish;
  /** Scratch for out-parameters (a status, a queried value, an event); callers serialise. */
  private final MemorySegment out = MemorySegment.allocateNative(16, ResourceScope.globalScope());

  private ClNative(SymbolLookup lib) {
    CLinker c = CLinker.getInstance();
    MethodType info = MethodType.methodType(int.class, long.class, int.class, long.class, MemoryAddress.class,
        MemoryAddress.class);
    FunctionDescriptor infoD = FunctionDescriptor.of(C_INT, C_LONG, C_INT, C_LONG, C_POINTER, C_POINTER);
    getQueueInfo = bind(c, lib, "clGetCommandQueueInfo", info, infoD);
    getMemInfo = bind(c, lib, "clGetMemObjectInfo", info, infoD);
    createBuffer = bind(c, lib, "clCreateBuffer",
        MethodType.methodType(long.class, long.class, long.class, long.class, MemoryAddress.class, MemoryAddress.class),
        FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_LONG, C_POINTER, C_POINTER));
    mapBuffer = bind(c, lib, "clEnqueueMapBuffer",
        MethodType.methodType(MemoryAddress.class, long.class, long.class, int.class, long.class, long.class,
            long.class, int.class, MemoryAddress.class, MemoryAddress.class, MemoryAddress.class),
        FunctionDescriptor.of(C_POINTER, C_LONG, C_LONG, C_INT, C_LONG, C_LONG, C_LONG, C_INT, C_POINTER, C_POINTER,
            C_POINTER));
    unmap = bind(c, lib, "clEnqueueUnmapMemObject",
        MethodType.methodType(int.class, long.class, long.class, MemoryAddress.class, int.class, MemoryAddress.class,
            MemoryAddress.class),
        FunctionDescriptor.of(C_INT, C_LONG, C_LONG, C_POINTER, C_INT, C_POINTER, C_POINTER));
    releaseMem = bind(c, lib, "clReleaseMemObject", MethodType.methodType(int.class, long.class),
        FunctionDescriptor.of(C_INT, C_LONG));
    MethodType rw = MethodType.methodType(int.class, long.class, long.class, int.class, long.class, long.class,
        MemoryAddress.class, int.class, MemoryAddress.class, MemoryAddress.class);
    FunctionDescriptor rwD = FunctionDescriptor.of(C_INT, C_LONG, C_LONG, C_INT, C_LONG, C_LONG, C_POINTER, C_INT,
        C_POINTER, C_POINTER);
    writeBuffer = bind(c, lib, "clEnqueueWriteBuffer", rw, rwD);
    readBuffer = bind(c, lib, "clEnqueueReadBuffer", rw, rwD);
    waitForEvents = bind(c, lib, "clWaitForEvents", MethodType.methodType(int.class, int.class, MemoryAddress.class),
        FunctionDescriptor.of(C_INT, C_INT, C_POINTER));
    releaseEvent = bind(c, lib, "clReleaseEvent", MethodType.methodType(int.class, long.class),
        FunctionDescriptor.of(C_INT, C_LONG));
    finish = bind(c, lib, "clFinish", MethodType.methodType(int.class, long.class),
        FunctionDescriptor.of(C_INT, C_LONG));
  }

  /**
   * Binds to the OpenCL library this process loaded (Aparapi's native library links it), found in
   * /proc/self/maps so that it is the same one.
   */
  static ClNative load() {
    Path lib;
    try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
      lib = lines.map(l -> l.substring(l.lastIndexOf(' ') + 1)).filter(p -> p.contains("/libOpenCL.so"))
          .findFirst().map(Path::of)
          .orElseThrow(() -> new IllegalStateException("no OpenCL library is loaded in this process"));
    } catch (IOException e) {
      throw new IllegalStateException("cannot read /proc/self/maps to find the OpenCL library", e);
    }
    System.load(lib.toString());
    return new ClNative(SymbolLookup.loaderLookup());
  }

  private static MethodHandle bind(CLinker c, SymbolLookup lib, String name, MethodType type,
      FunctionDescriptor d) {
    MemoryAddress fn = lib.lookup(name)
        .orElseThrow(() -> new IllegalStateException("the OpenCL library has no " + name)).address();
    return c.downcallHandle(fn, type, d);
  }

  /** A native segment of {@code bytes} at {@code address} (memory Aparapi's native side or OpenCL owns). */
  static MemorySegment at(long address, long bytes) {
    return MemoryAddress.ofLong(address).asSegment(bytes, ResourceScope.globalScope());
  }

  long queueInfo(long queue, int param) {
    MemoryAccess.setLongAtOffset(out, 8, 0);
    check("clGetCommandQueueInfo", call(getQueueInfo, queue, param));
    return MemoryAccess.getLongAtOffset(out, 8);
  }

  long memInfo(long mem, int param) {
    MemoryAccess.setLongAtOffset(out, 8, 0);
    check("clGetMemObjectInfo", call(getMemInfo, mem, param));
    return MemoryAccess.getLongAtOffset(out, 8);
  }

  private int call(MethodHandle info, long handle, int param) {
    try {
      return (int) info.invokeExact(handle, param, 8L, out.asSlice(8).address(), MemoryAddress.NULL);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A buffer of {@code bytes} in host memory the device can reach directly (pinned). */
  long createPinned(long context, long bytes) {
    try {
      long mem = (long) createBuffer.invokeExact(context, (long) (CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR), bytes,
          MemoryAddress.NULL, out.address());
      check("clCreateBuffer(CL_MEM_ALLOC_HOST_PTR, " + bytes + " bytes)", MemoryAccess.getInt(out));
      return mem;
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Maps all of {@code mem} for the host to read and write; the address stays valid until unmapped. */
  long map(long queue, long mem, long bytes) {
    try {
      MemoryAddress p = (MemoryAddress) mapBuffer.invokeExact(queue, mem, 1, (long) (CL_MAP_READ | CL_MAP_WRITE), 0L,
          bytes, 0, MemoryAddress.NULL, MemoryAddress.NULL, out.address());
      check("clEnqueueMapBuffer", MemoryAccess.getInt(out));
      return p.toRawLongValue();
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Unmaps {@code mem} from {@code address} (0: it was never mapped) and releases it. */
  void unmapAndRelease(long queue, long mem, long address) {
    try {
      if (address != 0) {
        check("clEnqueueUnmapMemObject", (int) unmap.invokeExact(queue, mem, MemoryAddress.ofLong(address), 0,
            MemoryAddress.NULL, MemoryAddress.NULL));
        check("clFinish", (int) finish.invokeExact(queue));
      }
      check("clReleaseMemObject", (int) releaseMem.invokeExact(mem));
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * Enqueues a copy of {@code bytes} between {@code host} and {@code mem} at {@code offset} without
   * waiting; returns its event, which {@link #await} waits for and releases.
   */
  long enqueue(boolean toDevice, long queue, long mem, long offset, long bytes, long host) {
    try {
      MemorySegment event = out.asSlice(8);
      int status = toDevice
          ? (int) writeBuffer.invokeExact(queue, mem, 0, offset, bytes, MemoryAddress.ofLong(host), 0,
              MemoryAddress.NULL, event.address())
          : (int) readBuffer.invokeExact(queue, mem, 0, offset, bytes, MemoryAddress.ofLong(host), 0,
              MemoryAddress.NULL, event.address());
      check(toDevice ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer", status);
      return MemoryAccess.getLongAtOffset(out, 8);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Waits for {@code event} (0: none) and releases it. */
  void await(long event) {
    if (event == 0) {
      return;
    }
    try {
      MemoryAccess.setLongAtOffset(out, 8, event);
      int status = (int) waitForEvents.invokeExact(1, out.asSlice(8).address());
      int released = (int) releaseEvent.invokeExact(event);
      check("clWaitForEvents", status);
      check("clReleaseEvent", released);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private static void check(String call, int status) {
    if (status != 0) {
      throw new IllegalStateException(call + " failed with OpenCL status " + status);
    }
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new IllegalStateException(t);
  }
}
