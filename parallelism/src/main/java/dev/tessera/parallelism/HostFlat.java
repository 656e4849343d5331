package dev.tessera.parallelism;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import java.util.List;

/**
 * Tensors to and from one flat host vector, one after another: how collectives see them for now.
 * Vectors can be used again ({@link Spare}): a GPU reads into an array it wrote before at 15.9 GB/s
 * and into a new one at 4.7 (an H200 host, 64 MiB: the new array's pages are touched first there).
 */
final class HostFlat {
  private HostFlat() {
  }

  /**
   * Arrays handed back once their collective is done, by length, for the next step's same-sized
   * read. Only the thread of the backend uses it (not thread-safe); an array whose collective may
   * still be running must not be handed back.
   */
  static final class Spare {
    private final java.util.Map<Integer, java.util.ArrayDeque<float[]>> free = new java.util.HashMap<>();

    float[] take(int length) {
      java.util.ArrayDeque<float[]> q = free.get(length);
      float[] a = q == null ? null : q.poll();
      return a != null ? a : new float[length];
    }

    void give(float[] a) {
      java.util.ArrayDeque<float[]> q = free.computeIfAbsent(a.length, k -> new java.util.ArrayDeque<>());
      if (q.size() < 4) { // the buckets of a step have different lengths; a few of each are plenty
        q.push(a);
      }
    }
  }

  static float[] read(Backend be, List<Tensor> tensors) {
    return read(be, tensors, null);
  }

  /** The tensors one after another, in an array from {@code spare} (null: a new one). */
  static float[] read(Backend be, List<Tensor> tensors, Spare spare) {
    int total = 0;
    for (Tensor t : tensors) {
      total += t.size();
    }
    float[] flat = spare == null ? new float[total] : spare.take(total);
    int off = 0;
    for (Tensor t : tensors) {
      be.read(t, flat, off);
      off += t.size();
    }
    return flat;
  }

  static void write(Backend be, List<Tensor> tensors, float[] flat) {
    int off = 0;
    for (Tensor t : tensors) {
      be.write(t, flat, off);
      off += t.size();
    }
  }
}
