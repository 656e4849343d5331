package dev.tessera.parallelism;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import java.util.List;

/** Tensors to and from one flat host vector, one after another: how collectives see them for now. */
final class HostFlat {
  private HostFlat() {
  }

  static float[] read(Backend be, List<Tensor> tensors) {
    int total = 0;
    for (Tensor t : tensors) {
      total += t.size();
    }
    float[] flat = new float[total];
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
