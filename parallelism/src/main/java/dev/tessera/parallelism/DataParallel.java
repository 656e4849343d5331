package dev.tessera.parallelism;

import dev.tessera.comm.Codec;
import dev.tessera.comm.CommException;
import dev.tessera.comm.ErrorFeedback;
import dev.tessera.comm.Group;
import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import dev.tessera.model.optim.AdamW;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Data parallelism over one dp group: every member trains on its own part of the global batch with
 * the loss scaled by the global token count, then the gradients are summed over the group, so the
 * step equals one worker's on the whole batch. Optionally compressed: a codec with error feedback,
 * after {@code exactSteps} exact steps, on the gradients ({@link Compress#GRADS}) or, as 1-bit Adam
 * does, on AdamW's momentum with the variance frozen at the end of the exact warm-up
 * ({@link Compress#MOMENTUM}). Gradient sums overlap the backward: each block's gradients, once
 * complete, are read to the host and summed (exactly, or through the codec with error feedback kept
 * per bucket) on a communication thread while the blocks below still run ({@link #gradientsReady}):
 * a bucket is a block, or with a bucket size the blocks handed over until they hold that many
 * gradients (fewer collectives, each of which costs a fixed time per member); the rest follow at
 * the end ({@link #allReduceGrads}). Without the overlap the gradients travel
 * after the backward as one flat vector, segment by segment (the error feedback is kept per
 * position of that vector). Compressed momentum needs the whole step's gradient first: it never
 * overlaps.
 */
public final class DataParallel {
  /** What a lossy codec compresses. */
  public enum Compress {
    /** The gradients, before AdamW. */
    GRADS,
    /**
     * AdamW's momentum (1-bit Adam, Tang et al. 2021): after the exact warm-up each worker folds its
     * own gradient into the momentum, the momentum is summed through the codec, and the update divides
     * by the variance frozen at the end of the warm-up. Compressed gradients make the variance
     * estimate (an element-wise square) wrong; the momentum is a running average and survives it.
     */
    MOMENTUM
  }

  private final Group group;
  private final Codec codec;
  private final int exactSteps;
  private final Compress compress;
  private final boolean overlap;
  private final long bucketFloats;
  /** Handed over but not started: they wait for more to fill a bucket ({@code bucketFloats}). */
  private final List<Param> pending = new ArrayList<>();
  private long pendingStep = -1;
  private final ErrorFeedback feedback = new ErrorFeedback();
  /** 1-bit Adam: sqrt(v) + eps of the variance frozen after the warm-up (0 where v is 0), once computed. */
  private float[] denominators;
  /** Gradients being summed on the communication thread, in the order every member started them. */
  private final List<Bucket> inFlight = new ArrayList<>();
  /** The gradient vectors of finished sums, for the next step's (never one still in flight). */
  private final HostFlat.Spare spare = new HostFlat.Spare();
  private final Set<Param> started = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
  /** The step the sums in flight belong to. */
  private long inFlightStep = -1;
  /** Why this member's dp collectives are out of step with the others', or null. */
  private String broken;
  /** One daemon thread, started on demand and ended when idle; one thread keeps every member's order. */
  private final ThreadPoolExecutor comm = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS,
      new LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "tessera-dp-allreduce");
        t.setDaemon(true);
        return t;
      });

  /** Some parameters' gradients (on the device) and their sum over the group (on the host), to come. */
  private record Bucket(List<Tensor> grads, Future<float[]> sum) {
  }

  /** Uncompressed (fp32) data parallelism. */
  public DataParallel(Group group) {
    this(group, null);
  }

  /** @param codec null or fp32 for exact sums, else a lossy codec used with error feedback */
  public DataParallel(Group group, Codec codec) {
    this(group, codec, 0, Compress.GRADS);
  }

  /**
   * @param exactSteps steps summed exactly before the codec takes over (a warm-up, as 1-bit Adam and
   *     DGC do); {@link Compress#MOMENTUM} needs at least one, to set the variance it freezes
   */
  public DataParallel(Group group, Codec codec, int exactSteps, Compress compress) {
    this(group, codec, exactSteps, compress, true);
  }

  /** @param overlap sum the gradients block by block during the backward ({@link #gradientsReady}) */
  public DataParallel(Group group, Codec codec, int exactSteps, Compress compress, boolean overlap) {
    this(group, codec, exactSteps, compress, overlap, 0);
  }

  /**
   * @param bucketFloats with the overlap, a sum starts once the parameters handed over since the last
   *     one hold at least this many gradient values (0: every hand-over, a block, is a sum)
   */
  public DataParallel(Group group, Codec codec, int exactSteps, Compress compress, boolean overlap,
      long bucketFloats) {
    if (compress == Compress.MOMENTUM && exactSteps < 1) {
      throw new IllegalArgumentException("compressed momentum (1-bit Adam) needs an exact warm-up of at least one step "
          + "to set the variance it freezes; got " + exactSteps + " exact steps");
    }
    this.group = group;
    this.codec = codec;
    this.exactSteps = exactSteps;
    this.compress = compress;
    this.overlap = overlap;
    this.bucketFloats = bucketFloats;
  }

  /** The gradient values of a bucket of {@code mb} MB of fp32 ({@code dp-bucket-mb}). */
  public static long bucketFloats(double mb) {
    return (long) (mb * 1e6 / 4);
  }

  public int size() {
    return group.size();
  }

  /** The dp group (ZeRO-1 shards the optimizer over it: {@link ZeroOneAdamW}). */
  public Group group() {
    return group;
  }

  public int index() {
    return group.index();
  }

  private boolean lossy(long step) {
    return codec != null && !codec.lossless() && step >= exactSteps;
  }

  /** Whether this step's gradients stay local for {@link #updateWithCompressedMomentum}. */
  public boolean momentumStage(long step) {
    return compress == Compress.MOMENTUM && group.size() > 1 && lossy(step);
  }

  /**
   * These parameters' gradients are complete for this step: their sum starts now, on the
   * communication thread (every member hands over the same parameters in the same order, so the
   * n-th bucket of a step is the same parameters every step, and keeps its error feedback). Nothing
   * happens alone, without the overlap, or in the compressed-momentum stage.
   */
  public void gradientsReady(List<Param> ready, long step) {
    if (!overlap || group.size() == 1 || momentumStage(step) || ready.isEmpty()) {
      return;
    }
    checkInStep(step);
    if (pendingStep != step) { // left by a step that failed before they were sent: nothing of theirs went out
      pending.clear();
      pendingStep = step;
    }
    pending.addAll(ready);
    if (pending.stream().mapToLong(p -> p.grad().size()).sum() < bucketFloats) {
      return;
    }
    start(pending.stream().map(Param::grad).toList(), step);
    started.addAll(pending);
    pending.clear();
  }

  private void start(List<Tensor> grads, long step) {
    checkInStep(step);
    float[] flat = HostFlat.read(grads.get(0).backend(), grads, spare); // on this thread: backends are not thread-safe
    inFlightStep = step;
    String bucket = "grads/bucket" + inFlight.size();
    boolean compressed = lossy(step);
    inFlight.add(new Bucket(grads, comm.submit(() -> {
      if (compressed) {
        group.allReduceCompressed(flat, bucket, codec, feedback, step);
      } else {
        group.allReduce(flat, step);
      }
      return flat;
    })));
  }

  /**
   * Refuses to go on once sums were left unfinished: a step that failed after handing over some
   * blocks (or whose sum failed) leaves this member's collectives out of step with the others'.
   */
  private void checkInStep(long step) {
    if (broken == null && !inFlight.isEmpty() && inFlightStep != step) {
      abandon("the gradient sums of step " + inFlightStep + " were left unfinished (that step failed)");
    }
    if (broken != null) {
      throw new CommException("data parallelism cannot go on at step " + step + ": " + broken);
    }
  }

  /** Cancels every sum still in flight and marks this member out of step. */
  private void abandon(String why) {
    broken = why;
    inFlight.forEach(b -> b.sum().cancel(true));
    inFlight.clear();
    started.clear();
    pending.clear();
  }

  /**
   * Sums every parameter gradient over the group, in place: those {@link #gradientsReady} started,
   * and the rest now; or, when none was handed over (no overlap), one flat buffer, segment by
   * segment. In the compressed-momentum stage it leaves them local.
   */
  public void allReduceGrads(Params params, long step) {
    if (group.size() == 1 || momentumStage(step)) {
      return;
    }
    checkInStep(step);
    pending.clear(); // not started: they are among the rest, or in the flat sum
    if (!inFlight.isEmpty()) {
      List<Tensor> rest = params.all().stream().filter(p -> !started.contains(p)).map(Param::grad).toList();
      if (!rest.isEmpty()) {
        start(rest, step);
      }
      long deadline = System.nanoTime() + group.timeout().toNanos() * (inFlight.size() + 1);
      for (Bucket b : inFlight) {
        float[] sum = finished(b, step, deadline);
        HostFlat.write(params.backend(), b.grads(), sum);
        spare.give(sum);
      }
      inFlight.clear();
      started.clear();
      return;
    }
    // Nothing handed over (no overlap): one flat vector, segment by segment.
    List<Tensor> grads = params.segments().stream().map(Params.Segment::grads).toList();
    float[] flat = HostFlat.read(params.backend(), grads, spare);
    if (lossy(step)) {
      group.allReduceCompressed(flat, "grads", codec, feedback, step);
    } else {
      group.allReduce(flat, step);
    }
    HostFlat.write(params.backend(), grads, flat);
    spare.give(flat);
  }

  /**
   * A bucket's sum, once the communication thread has it. Every collective's own waits have the
   * group's timeout; all the buckets of a step share one deadline of that timeout per bucket. A
   * failure abandons the buckets still in flight.
   */
  private float[] finished(Bucket b, long step, long deadline) {
    try {
      return b.sum().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      int buckets = inFlight.size();
      abandon("step " + step + "'s gradient sums timed out");
      throw new CommException.Timeout("step " + step + ": the gradient all-reduce of this worker's dp group (member "
          + group.index() + " of " + group.size() + ", " + buckets + " buckets) did not finish within "
          + group.timeout().toSeconds() * (buckets + 1) + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      abandon("interrupted at step " + step);
      throw new CommException("interrupted waiting for the gradient all-reduce of step " + step, e);
    } catch (ExecutionException e) {
      abandon("step " + step + "'s gradient sum failed: " + e.getCause());
      if (e.getCause() instanceof RuntimeException r) {
        r.addSuppressed(new CommException("waited for by the training thread at step " + step));
        throw r; // PeerLost, Timeout, BadFrame: as if summed on this thread
      }
      throw new CommException("the gradient all-reduce of step " + step + " failed", e.getCause());
    }
  }

  /**
   * 1-bit Adam's update in its compressed stage. This worker's share of the momentum, {@code beta1 *
   * m / n + (1 - beta1) * g} (g its own gradient, already clipped), is divided by the frozen
   * variance's denominator {@code sqrt(v) + eps} and summed over the group through the codec with
   * error feedback; the sum is the Adam step itself, and times the denominator every worker's new
   * momentum. Since v is frozen and the same on every worker, the division commutes with the sum;
   * done before the codec, it gives the codec values of one scale (a 1-bit block's single magnitude
   * would otherwise come from the largest tensors and swamp elements with a small variance). Elements
   * whose variance is zero at the freeze (no gradient in the whole warm-up) keep their value apart
   * from weight decay. On the host: the sum goes through host memory anyway.
   */
  public void updateWithCompressedMomentum(AdamW adam, Params params, float lr, long step) {
    Backend be = params.backend();
    List<Params.Segment> segments = params.segments();
    float b1 = adam.beta1();
    if (denominators == null) { // the variance is frozen from here on: its denominators once
      float c2 = 1f - (float) Math.pow(adam.beta2(), exactSteps);
      float[] v = HostFlat.read(be, adam.secondMomentSegments());
      denominators = new float[v.length];
      for (int j = 0; j < v.length; j++) {
        denominators[j] = v[j] > 0 ? (float) Math.sqrt(v[j] / c2) + adam.eps() : 0f;
      }
    }
    float[] g = HostFlat.read(be, segments.stream().map(Params.Segment::grads).toList(), spare);
    float[] m = HostFlat.read(be, adam.firstMomentSegments(), spare);
    float[] flat = spare.take(g.length); // every element written below
    for (int j = 0; j < g.length; j++) {
      float d = denominators[j];
      flat[j] = d > 0 ? (b1 * m[j] / group.size() + (1f - b1) * g[j]) / d : 0f;
    }
    group.allReduceCompressed(flat, "momentum", codec, feedback, step);
    int t = adam.steps() + 1;
    float c1 = 1f - (float) Math.pow(b1, t);
    List<Tensor> values = segments.stream().map(Params.Segment::values).toList();
    float[] p = HostFlat.read(be, values, spare);
    int off = 0;
    for (Params.Segment seg : segments) {
      float decay = 1f - lr * (seg.decay() ? adam.weightDecay() : 0f);
      for (int j = off; j < off + seg.values().size(); j++) {
        float u = denominators[j] > 0 ? flat[j] : 0f; // the codec may give a frozen element a value
        m[j] = u * denominators[j];
        p[j] = p[j] * decay - lr * u / c1;
      }
      off += seg.values().size();
    }
    HostFlat.write(be, values, p);
    HostFlat.write(be, adam.firstMomentSegments(), m);
    adam.setSteps(t);
    for (float[] a : List.of(g, m, flat, p)) { // the compressed sum is over: nothing reads them any more
      spare.give(a);
    }
  }


  /** Sums a scalar (a loss sum, a token count) over the group. */
  public double allReduceScalar(double x, long step) {
    float[] v = {(float) x};
    group.allReduce(v, step);
    return v[0];
  }
}
