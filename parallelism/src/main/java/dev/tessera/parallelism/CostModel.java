package dev.tessera.parallelism;

import dev.tessera.kernels.Backends;
import dev.tessera.kernels.opencl.OpenClBackend;
import dev.tessera.model.GptConfig;

/**
 * What a dp x tp layout costs one worker, per optimizer step: memory (parameters, gradients,
 * AdamW's two moments, the activations a micro-batch keeps for its backward, the attention scratch
 * of the GPU kernels: the device arena; the heap, which holds the arena's host array and, while it
 * grows by doubling, the old one beside the new) and time (the
 * matmul work at the machine's training rate, plus the bytes its collectives move at the
 * transport's bandwidth and latency). The planner ranks layouts by it; the report puts the
 * prediction beside what was measured. The figures are estimates, not bounds: the activation
 * count follows what the layers keep (docs/parallelism.md), and the machine figures are measured
 * defaults that a user can override.
 */
public final class CostModel {
  /** Bytes of an fp32 value. */
  private static final int F32 = 4;

  /**
   * The machine the workers share.
   *
   * @param gflops training rate of the whole machine (all workers together), in GFLOP/s of matmul work
   * @param shared true when the workers share that rate (one CPU), false when each has its own (one GPU each)
   * @param bytesPerSecond bandwidth of one worker's collectives (Hazelcast on loopback: ~0.3 GB/s)
   * @param latencySeconds the fixed time of a collective, whatever its group
   * @param memberLatencySeconds the fixed time of a collective per member of its group (its chunks
   *     pipeline; a member waits on each of the others' first ones, and they on its)
   * @param baseBytes what a worker JVM holds besides the model (classes, Hazelcast, buffers)
   * @param layerOverheadSeconds time per layer and step that does not shrink with the work (kernel
   *     launches, host reads), paid by every worker
   * @param gpu the workers keep their tensors in GPU memory: one arena of at most
   *     {@link #ARENA_LIMIT_BYTES}, and attention through batched matmuls with T x T scratch
   * @param toDeviceBytesPerSecond host-to-device copies (what a collective summed, written back), or 0
   *     where they are not counted apart (a CPU device: host memory, in the fitted overheads)
   * @param toHostBytesPerSecond device-to-host copies (what a collective sums, read first), or 0
   * @param codecThreads the threads a worker encodes a lossy codec's chunks on ({@link DpCodec})
   */
  public record Machine(double gflops, boolean shared, double bytesPerSecond, double latencySeconds,
      double memberLatencySeconds, long baseBytes, double layerOverheadSeconds, boolean gpu,
      double toDeviceBytesPerSecond, double toHostBytesPerSecond, int codecThreads) {
    /** Defaults measured on the 2-core CI machine (pocl): docs/benchmarks.md. */
    public static Machine cpu(int cores) {
      return new Machine(10.0 * cores, true, 0.3e9, 0, 2e-3, 200L << 20, 30e-3, false, 0, 0, 1);
    }

    /**
     * One GPU per worker, fitted to an H200 host (16 cores, 2026-12-02, docs/benchmarks.md#multigpu and
     * #allreduce): nanoGPT's GPU config alone on the GPU stepped in 54.9 ms at batch 32 and 32.9 ms at
     * batch 16, which this rate and per-layer overhead give. Exact all-reduces among 2, 4 and 8
     * processes there (frames posted, written into and read from their packets in place, members' 1 MiB
     * direct socket buffers: sixth session) took 2 ms plus 0.7 ms per member plus their bytes at 2.3 GB/s,
     * or less where the host's cores run short: ~0.45 GB/s a core shared among the workers (4 processes
     * on 16 cores: 1.8, 8: 0.9), from 1 to 64 MiB within 21%. Smaller sums take less (64 KiB among 2:
     * 0.4-1.5 ms). What a collective sums goes through host memory: read from the GPU, the result
     * written back, through pinned buffers (docs/gpu.md#pinned-host-copies): 64 MiB moved at 12.6-14.1
     * GB/s to the device and 15.9 GB/s back into an array read into before on that H200 (2026-12-03,
     * bench/run gpu; a new array's pages cost more: 4.7); the model takes 12 GB/s both ways. Through
     * Aparapi's staging arrays it was 2.4-3.8 and 1.7-2.4.
     *
     * @param cores the host's cores
     * @param workers the worker processes on it
     */
    public static Machine gpuPerWorker(int cores, int workers) {
      double bandwidth = Math.min(2.3e9, 0.45e9 * cores / Math.max(1, workers));
      return new Machine(12_500, false, bandwidth, 2.0e-3, 0.7e-3, 300L << 20, 1.55e-3, true, 12e9, 12e9,
          dev.tessera.comm.Group.sharedCodecThreads(cores, workers));
    }

    /** Copying {@code bytes} from the device and {@code bytes} back (0 where copies are not counted apart). */
    public double copySeconds(double bytes) {
      return (toHostBytesPerSecond > 0 ? bytes / toHostBytesPerSecond : 0)
          + (toDeviceBytesPerSecond > 0 ? bytes / toDeviceBytesPerSecond : 0);
    }

    /** The fixed time of one collective among {@code members} workers. */
    public double latency(int members) {
      return latencySeconds + members * memberLatencySeconds;
    }
  }

  /**
   * How dp's gradients travel: bytes a value takes on the wire and, with a lossy codec (summed on the
   * host through {@code Group.allReduceCompressed}), the host time per value to encode it, error
   * feedback included, and to decode it, on one thread. A worker's compressed sum of P values among n
   * encodes all P (the reduce-scatter's parts, on the codec threads) and its summed segment (P / n,
   * one thread), decodes (n - 1) / n of P on its own thread (the parts it sums, in member order) and as
   * many on the codec threads (the others' summed segments). With {@code momentum} (1-bit Adam's
   * compressed stage) the update runs on the host too: the moments and values read from the device
   * besides the gradients, the moments written back besides the values, and two passes of arithmetic.
   *
   * <p>The rates are {@code bench/run codecs} on the H200 host's cores (2026-12-03, one thread, best
   * of 5, two runs): bf16 1.0 GB/s of fp32 to encode, 4.8-5.2 to decode; 1-bit 0.74-0.87 and 2.0-2.1;
   * int8 0.52-0.60 and 4.7-4.8; fp8 0.15 and 0.63; top-k 0.40-0.55 and 5.5-5.8. The 2-core CI
   * machine's are within 30% of these (bf16 0.71 and 4.9, 1-bit 0.70 and 2.5).
   */
  public record DpCodec(double bytesPerFloat, double encodeSecondsPerFloat, double decodeSecondsPerFloat,
      boolean momentum) {
    /** fp32: exact sums, nothing encoded. */
    public static final DpCodec FP32 = new DpCodec(4, 0, 0, false);
    /** Host time per value of one pass of element-wise arithmetic over a few arrays. */
    static final double HOST_PASS_SECONDS_PER_FLOAT = 0.5e-9;

    /** A wire of {@code bytesPerFloat} bytes a value, without the codec's host time. */
    public static DpCodec wire(double bytesPerFloat) {
      return new DpCodec(bytesPerFloat, 0, 0, false);
    }

    /** The codec by its configured name ({@code dp-codec}); {@code momentum} for {@code dp-compress: momentum}. */
    public static DpCodec of(String codec, boolean momentum) {
      dev.tessera.comm.Codec c = dev.tessera.comm.Codecs.byName(codec);
      if (c.lossless()) {
        return FP32;
      }
      double[] rates = switch (c.name()) { // encode, decode: GB/s of fp32 on one thread
        case "bf16" -> new double[] {1.0e9, 5.0e9};
        case "int8" -> new double[] {0.55e9, 4.7e9};
        case "fp8-e4m3" -> new double[] {0.15e9, 0.63e9};
        case "onebit" -> new double[] {0.8e9, 2.0e9};
        default -> new double[] {0.5e9, 5.6e9}; // top-k
      };
      int sample = 1 << 20;
      return new DpCodec(c.encodedBytes(sample) / (double) sample, F32 / rates[0], F32 / rates[1], momentum);
    }

    boolean lossless() {
      return encodeSecondsPerFloat == 0 && decodeSecondsPerFloat == 0;
    }

    /** A worker's host time for one compressed sum of {@code values} among {@code n} (0 for fp32 or n = 1). */
    double sumSeconds(double values, int n, Machine machine) {
      if (n == 1 || lossless()) {
        return 0;
      }
      int threads = Math.max(1, machine.codecThreads());
      double others = values * (n - 1) / n;
      return encodeSecondsPerFloat * (values / threads + values / n)
          + decodeSecondsPerFloat * (others + others / threads);
    }

    /** A worker's host time for 1-bit Adam's update of {@code values} besides the sum (0 without momentum). */
    double updateSeconds(double values, Machine machine) {
      if (!momentum) {
        return 0;
      }
      double bytes = F32 * values;
      double reads = machine.toHostBytesPerSecond() > 0 ? 2 * bytes / machine.toHostBytesPerSecond() : 0;
      double writes = machine.toDeviceBytesPerSecond() > 0 ? bytes / machine.toDeviceBytesPerSecond() : 0;
      return reads + writes + 2 * values * HOST_PASS_SECONDS_PER_FLOAT;
    }
  }

  /** The most one worker's float arena holds (Aparapi sizes a buffer in a 32-bit count of bytes). */
  public static final long ARENA_LIMIT_BYTES = 4 * OpenClBackend.MAX_ARENA_ELEMENTS;
  /**
   * What the arena holds beyond the counted tensors: the temporaries of the op running at the peak
   * (measured peaks were 3-6% above the count on an H200: docs/benchmarks.md#multigpu) and small
   * fixed tensors (the int arena, norms' statistics: ~8 MB on a tiny model).
   */
  static final double TRANSIENT_FACTOR = 1.08;
  static final long FIXED_DEVICE_BYTES = 8L << 20;
  /** A backend's float arena to begin with; it doubles as tensors need more. */
  static final long ARENA_START_BYTES = 4L * Backends.INITIAL_ARENA;

  /**
   * One worker's predicted share of a step.
   *
   * @param deviceBytes what the worker's float arena holds at its fullest (parameters, gradients,
   *     moments, activations, scratch)
   * @param arenaBytes the arena's size once it has grown to hold that (doubling from its start)
   * @param totalBytes the worker JVM's heap in use: its base, the arena's host array (and the one it
   *     grew from, garbage until collected), the host copies of the gradients that data parallelism sums
   * @param heapNeededBytes the heap the worker needs: while the arena grows the old array is live and
   *     the new one must find one free block of its own size (G1 does not move such arrays), so
   *     twice the arena once it has grown (a 6 x 384 model whose arena grew to 1 GiB failed in a 2 GB
   *     heap, and ran in 3 GB)
   * @param commSeconds the collectives' time, and on a GPU the copies of what they sum between the
   *     device and the host
   */
  public record Cost(long parameters, long parameterBytes, long activationBytes, long deviceBytes, long arenaBytes,
      long totalBytes, long heapNeededBytes, double computeSeconds, double commSeconds, double tpBytes,
      double dpBytes, double hiddenSeconds) {
    /** Compute and communication, less the part of the dp sums the backward hides ({@link #hiddenSeconds}). */
    public double stepSeconds() {
      return computeSeconds + commSeconds - hiddenSeconds;
    }

    /** Whether the arena can hold what the worker needs. */
    public boolean fitsOneArena() {
      return deviceBytes <= ARENA_LIMIT_BYTES;
    }
  }

  /** The arena's size once it holds {@code need} bytes: doubled from its start, at most the limit. */
  static long arenaBytes(long need) {
    long a = ARENA_START_BYTES;
    while (a < need && a < ARENA_LIMIT_BYTES) {
      a = Math.min(ARENA_LIMIT_BYTES, 2 * a);
    }
    return Math.max(a, need);
  }

  private CostModel() {
  }

  /** Parameters of the whole model (tp = 1), as {@link dev.tessera.model.Params} holds them. */
  public static long parameters(GptConfig m) {
    return parameters(m, 1, m.vocabSize());
  }

  /** Parameters of one block on one worker under tensor parallelism of degree {@code tp}. */
  static long blockParameters(GptConfig m, int tp) {
    long c = m.nEmbd();
    long h = m.hidden();
    long norms = m.norm() == GptConfig.Norm.LAYERNORM && m.bias() ? 2 * c : c;
    long mlpMatrices = m.mlp() == GptConfig.Mlp.SWIGLU ? 3 : 2;
    long perLayer = 2 * norms + (4 * c * c + mlpMatrices * c * h) / tp;
    if (m.bias()) {
      perLayer += (3 * c + (m.mlp() == GptConfig.Mlp.SWIGLU ? 2 : 1) * h) / tp + 2 * c;
    }
    return perLayer;
  }

  /** Parameters one worker holds under tensor parallelism of degree {@code tp} (vocabulary padded). */
  static long parameters(GptConfig m, int tp, int paddedVocab) {
    long c = m.nEmbd();
    long norms = m.norm() == GptConfig.Norm.LAYERNORM && m.bias() ? 2 * c : c;
    long perLayer = blockParameters(m, tp);
    long positions = m.positions() == GptConfig.Positions.LEARNED ? (long) m.blockSize() * c : 0;
    return paddedVocab / tp * c + positions + m.nLayer() * perLayer + norms;
  }

  /**
   * The cost to one worker of layout {@code dp} x {@code tp} training micro-batches of
   * {@code batch} sequences (the global batch) of the model's block size.
   *
   * @param dpBytesPerFloat bytes a gradient value takes on the wire (4 for fp32, less for a codec)
   */
  public static Cost of(GptConfig m, int dp, int tp, boolean sequenceParallel, int batch, int gradAccum,
      double dpBytesPerFloat, Machine machine) {
    return of(m, dp, tp, sequenceParallel, batch, gradAccum, dpBytesPerFloat, false, machine);
  }

  /**
   * As {@link #of(GptConfig, int, int, boolean, int, int, double, Machine)}; with {@code dpOverlap}
   * the dp sums run while the backward goes on ({@code dp-overlap}): a block's gradients are summed
   * while the blocks below it run their backward, so up to the last micro-batch's backward of all but
   * the first block (two thirds of its matmul work, by the 2:1 of backward to forward) hides them. The model does
   * not count the communication thread's contention with the backward; a codec's host time is counted with
   * {@link DpCodec}.
   */
  public static Cost of(GptConfig m, int dp, int tp, boolean sequenceParallel, int batch, int gradAccum,
      double dpBytesPerFloat, boolean dpOverlap, Machine machine) {
    return of(m, dp, tp, sequenceParallel, batch, gradAccum, dpBytesPerFloat, dpOverlap, 0, machine);
  }

  /**
   * As {@link #of(GptConfig, int, int, boolean, int, int, double, boolean, Machine)}, the overlap's
   * buckets holding at least {@code dpBucketFloats} gradients each ({@code dp-bucket-mb}; 0: a block
   * each): k blocks a bucket make floor(layers / k) collectives and one for the rest (with the blocks
   * short of a bucket), and the first starts after k blocks' backward.
   */
  public static Cost of(GptConfig m, int dp, int tp, boolean sequenceParallel, int batch, int gradAccum,
      double dpBytesPerFloat, boolean dpOverlap, long dpBucketFloats, Machine machine) {
    return of(m, dp, tp, sequenceParallel, batch, gradAccum, DpCodec.wire(dpBytesPerFloat), dpOverlap, dpBucketFloats,
        machine);
  }

  /**
   * As {@link #of(GptConfig, int, int, boolean, int, int, double, boolean, long, Machine)}, with the dp
   * codec's host time: encoding and decoding (part of the dp sums, which the backward may hide), and with
   * 1-bit Adam its update on the host, after the backward.
   */
  public static Cost of(GptConfig m, int dp, int tp, boolean sequenceParallel, int batch, int gradAccum,
      DpCodec dpCodec, boolean dpOverlap, long dpBucketFloats, Machine machine) {
    double dpBytesPerFloat = dpCodec.bytesPerFloat();
    ParallelDims mesh = new ParallelDims(dp, 1, tp, 1, 1);
    long params = parameters(m, tp, mesh.paddedVocab(m.vocabSize()));
    long paramBytes = 4L * params * F32; // values, gradients, first and second moments
    long tokens = (long) batch / dp * m.blockSize(); // one micro-batch of this worker
    long c = m.nEmbd();
    long h = m.hidden();
    long replicated = sequenceParallel ? c / tp : c; // per token: residual-stream tensors
    long perLayer = 6 * replicated + (m.positions() == GptConfig.Positions.ROTARY ? 6 : 4) * c / tp
        + (m.mlp() == GptConfig.Mlp.SWIGLU ? 4 : 2) * h / tp + 2L * m.nHead() / tp;
    long headPerToken = 2L * mesh.paddedVocab(m.vocabSize()) / tp + 2 * c + 4; // logits and their gradient
    long activationBytes = F32 * tokens * (m.nLayer() * perLayer + headPerToken);
    double flops = 6.0 * (params - (m.positions() == GptConfig.Positions.LEARNED ? (long) m.blockSize() * c : 0))
        * tokens * gradAccum + 6.0 * m.nLayer() * m.blockSize() * c / tp * tokens * gradAccum;
    int workers = dp * tp;
    double rate = machine.gflops() * 1e9 / (machine.shared() ? workers : 1);
    double compute = flops / rate + (m.nLayer() + 1) * machine.layerOverheadSeconds();
    // Without sequence parallelism each block's attention and MLP leave the tp region with an
    // all-reduce forward and backward (4 per layer); with it, a reduce-scatter and an all-gather
    // each way, moving the same bytes. An all-reduce moves 2 (n - 1) / n of the tensor per worker.
    double tpBytes = tp == 1 ? 0 : 4.0 * m.nLayer() * tokens * c * F32 * 2.0 * (tp - 1) / tp * gradAccum;
    double dpBytes = dp == 1 ? 0 : params * dpBytesPerFloat * 2.0 * (dp - 1) / dp;
    // dp sums the gradients in one collective after the backward, or with the overlap in one a bucket
    // (a block, or several with dp-bucket-mb) and one for the rest.
    double tpComm = tp == 1 ? 0 : collectiveSeconds(tpBytes, tp, 4.0 * m.nLayer() * gradAccum, machine);
    long blockFloats = Math.max(1, blockParameters(m, tp));
    int blocksPerBucket = (int) Math.min(m.nLayer(), Math.max(1, (dpBucketFloats + blockFloats - 1) / blockFloats));
    // Blocks short of a bucket go with the rest; a bucket larger than every block is the flat sum's one.
    int buckets = dpBucketFloats > m.nLayer() * blockFloats ? 1 : m.nLayer() / blocksPerBucket + 1;
    double dpComm = dp == 1 ? 0 : collectiveSeconds(dpBytes, dp, dpOverlap ? buckets : 1, machine)
        + dpCodec.sumSeconds(params, dp, machine);
    // On a GPU what a collective sums is read from the device first and the result written back, on the
    // compute thread (between kernels: the backward hides none of it): dp's gradients in fp32 whatever
    // the codec (it encodes on the host), and tp's activations at each of its all-reduces.
    double copied = (dp == 1 ? 0 : F32 * (double) params)
        + (tp == 1 ? 0 : 4.0 * m.nLayer() * tokens * c * F32 * gradAccum);
    double comm = tpComm + dpComm + machine.copySeconds(copied) + (dp == 1 ? 0 : dpCodec.updateSeconds(params, machine));
    // Only the last micro-batch's backward overlaps (the earlier ones' gradients are still accumulating).
    double backwardBelow = flops / gradAccum / rate * 2.0 / 3.0 * (m.nLayer() - blocksPerBucket) / m.nLayer();
    double hidden = dpOverlap ? Math.min(dpComm, backwardBelow) : 0;
    // The GPU form of attention goes through T x T scores and their gradient for this worker's heads.
    long scratch = machine.gpu() ? 2L * F32 * batch / dp * (m.nHead() / tp) * m.blockSize() * m.blockSize() : 0;
    long device = (long) (TRANSIENT_FACTOR * (paramBytes + activationBytes + scratch)) + FIXED_DEVICE_BYTES;
    long arena = arenaBytes(device);
    boolean grew = arena > ARENA_START_BYTES; // then the array it grew from, half its size, was live beside it
    long hostGrads = dp == 1 ? 0 : 2L * F32 * params; // read to the host, summed, written back
    long total = machine.baseBytes() + (grew ? arena * 3 / 2 : arena) + hostGrads;
    long needed = machine.baseBytes() + (grew ? 2 * arena : arena) + hostGrads;
    return new Cost(params, paramBytes, activationBytes, device, arena, total, needed, compute, comm, tpBytes,
        dpBytes, hidden);
  }

  /**
   * Time of {@code collectives} collectives among {@code n} workers that move {@code bytes} per worker
   * in all: each one's fixed time, and the bytes at the machine's bandwidth.
   */
  static double collectiveSeconds(double bytes, int n, double collectives, Machine machine) {
    return bytes / machine.bytesPerSecond() + collectives * machine.latency(n);
  }
}
