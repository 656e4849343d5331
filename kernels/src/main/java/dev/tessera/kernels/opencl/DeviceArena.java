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

  private final String name;
  private final TreeMap<Integer, Integer> free = new TreeMap<>(); // offset -> length
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
        int off = e.getKey();
        free.remove(off);
        if (e.getValue() > len) {
          free.put(off + len, e.getValue() - len);
        }
        used += len;
        peak = Math.max(peak, used);
        return off;
      }
    }
    return -1;
  }

  void release(int offset, int n) {
    int len = aligned(Math.max(n, 1));
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
