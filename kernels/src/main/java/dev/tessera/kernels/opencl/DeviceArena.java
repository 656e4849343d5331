package dev.tessera.kernels.opencl;

import java.util.Map;
import java.util.TreeMap;

/**
 * First-fit allocator over one device buffer, in elements. Aparapi gives each {@code Kernel} its
 * own device memory, so every tensor of the backend is a region of one big array owned by the
 * kernel; this class hands out and takes back those regions. Blocks are aligned to 16 elements
 * (64 bytes) and freed neighbours are merged. Not thread-safe: the backend serialises access.
 */
final class DeviceArena {
  static final int ALIGN = 16;
  static final boolean DEBUG = Boolean.getBoolean("tessera.arena.debug");

  private final String name;
  private final TreeMap<Integer, Integer> free = new TreeMap<>(); // offset -> length
  private final TreeMap<Integer, Integer> live = new TreeMap<>(); // offset -> length handed out
  private int capacity;
  private long used;
  private long peak;

  DeviceArena(String name, int capacity) {
    this.name = name;
    this.capacity = capacity;
    free.put(0, capacity);
  }

  static int aligned(int n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
  }

  /** Returns the offset of a free block of {@code n} elements, or -1 if none is large enough. */
  int allocate(int n) {
    int len = aligned(Math.max(n, 1));
    for (Map.Entry<Integer, Integer> e : free.entrySet()) {
      if (e.getValue() >= len) {
        // Read the entry before removing it: TreeMap reuses a removed node for its successor's key
        // and value, so e would then describe another block (that corrupted the free list).
        int off = e.getKey();
        int blockLen = e.getValue();
        free.remove(off);
        if (blockLen > len) {
          free.put(off + len, blockLen - len);
        }
        used += len;
        peak = Math.max(peak, used);
        Map.Entry<Integer, Integer> below = live.floorEntry(off);
        Map.Entry<Integer, Integer> above = live.ceilingEntry(off);
        if ((below != null && below.getKey() + below.getValue() > off) || (above != null && above.getKey() < off + len)) {
          throw new IllegalStateException(name + " arena: free block [" + off + ", " + (off + len) + ") overlaps a live one");
        }
        live.put(off, len);
        if (DEBUG) {
          verify("allocate " + off + "+" + len);
        }
        return off;
      }
    }
    return -1;
  }

  void release(int offset, int n) {
    int len = aligned(Math.max(n, 1));
    Integer given = live.remove(offset);
    if (given == null || given != len) {
      throw new IllegalStateException(name + " arena: block [" + offset + ", " + (offset + len) + ") released but "
          + (given == null ? "not allocated (released twice?)" : "allocated with " + given + " elements"));
    }
    used -= len;
    int start = offset;
    int end = offset + len;
    Map.Entry<Integer, Integer> before = free.lowerEntry(start);
    if (before != null && before.getKey() + before.getValue() == start) {
      start = before.getKey();
      free.remove(start);
    }
    Integer after = free.get(end);
    if (after != null) {
      free.remove(end);
      end += after;
    }
    free.put(start, end - start);
    if (DEBUG) {
      verify("release " + offset + "+" + len);
    }
  }

  /** Extends the arena to {@code newCapacity} elements (the caller moves the data). */
  void grow(int newCapacity) {
    if (newCapacity <= capacity) {
      return;
    }
    Map.Entry<Integer, Integer> last = free.lastEntry();
    if (last != null && last.getKey() + last.getValue() == capacity) {
      free.put(last.getKey(), newCapacity - last.getKey());
    } else {
      free.put(capacity, newCapacity - capacity);
    }
    capacity = newCapacity;
  }

  /** Debug aid: every live and free block is disjoint and inside the capacity. */
  void verify(String after) {
    TreeMap<Integer, Integer> all = new TreeMap<>();
    for (var e : free.entrySet()) {
      if (all.put(e.getKey(), e.getValue()) != null) {
        throw new IllegalStateException(after + ": duplicate start " + e.getKey());
      }
    }
    for (var e : live.entrySet()) {
      if (all.put(e.getKey(), -e.getValue()) != null) {
        throw new IllegalStateException(after + ": live block at a free start " + e.getKey());
      }
    }
    int end = 0;
    for (var e : all.entrySet()) {
      if (e.getKey() < end) {
        throw new IllegalStateException(after + ": block at " + e.getKey() + " overlaps (previous ends at " + end + ")");
      }
      end = e.getKey() + Math.abs(e.getValue());
    }
  }

  int capacity() {
    return capacity;
  }

  long used() {
    return used;
  }

  long peak() {
    return peak;
  }

  @Override
  public String toString() {
    return name + " arena: " + used + " of " + capacity + " elements in use (peak " + peak + ")";
  }
}
