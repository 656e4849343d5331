package dev.tessera.worker;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.KryoException;
import com.esotericsoftware.kryo.kryo5.Serializer;
import com.esotericsoftware.kryo.kryo5.io.Input;
import com.esotericsoftware.kryo.kryo5.io.Output;
import dev.tessera.comm.Codec;
import dev.tessera.comm.CommException;
import dev.tessera.comm.Frame;
import dev.tessera.comm.MessageKey;
import dev.tessera.comm.Transport;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The control plane between the coordinator and its workers: small messages with fixed Kryo ids
 * (registration required), each written field by field and carried as a frame of the job's
 * transport on the control group. The coordinator is the transport's last rank; the workers are
 * ranks 0..n-1 of the mesh.
 *
 * <pre>
 *   coordinator                          worker r
 *     Plan (attempt, run dir, config) -->
 *                                    <-- Ready (pid, device, parameters, step)   or Failed
 *     Go (step s) ------------------->       trains step s, evaluates, checkpoints
 *                                    <-- StepDone (loss, norm, tokens, ...)      or Failed
 *     ... Go (stop) ----------------->       closes and exits
 * </pre>
 */
public final class Control {
  /** The control group's id on the wire (mesh groups use the axis ordinal + 1 in the high byte). */
  public static final int GROUP = 0x7F << 24;
  static final int PLAN = 1;
  static final int READY = 2;
  static final int GO = 3;
  static final int DONE = 4;

  private static final ThreadLocal<Kryo> KRYO = ThreadLocal.withInitial(Control::newKryo);

  private Control() {
  }

  /**
   * Everything a worker needs to build its shard: the run directory, its resolved config, the
   * checkpoint to start from ("" for step 0) and how long to wait for the next command.
   */
  public record Plan(int attempt, String runDir, String configYaml, String checkpoint, int stepTimeoutSeconds) {
  }

  /** A worker's shard is built (and restored from a checkpoint if the plan said so). */
  public record Ready(int rank, long pid, String device, long parameters, int stepsDone, long memoryBytes,
      double[] baselines) {
  }

  /** Train step {@code step} (0-based); or stop there, checkpointing first if {@code checkpoint}. */
  public record Go(int step, boolean stop, boolean checkpoint) {
  }

  /**
   * What a worker did in step {@code step}: checkpoint is "" when it wrote none; tpBytes and dpBytes
   * what it sent to its tp and dp groups, waitSeconds how long it waited for its peers' frames.
   */
  public record StepDone(int rank, int step, double loss, float lr, double gradNorm, long tokens, double seconds,
      double valLoss, String checkpoint, long heapUsed, long deviceBytes, long tpBytes, long dpBytes,
      double waitSeconds) {
  }

  /**
   * A worker could not go on. kind: {@value #DIVERGED} (NaN loss: restarting would not help),
   * {@value #COMM} (a peer went away or stopped answering: a restart may cure it), or {@value #ERROR}
   * (anything else: bad data, out of memory).
   */
  public record Failed(int rank, String kind, String message) {
  }

  public static final String DIVERGED = "diverged";
  public static final String COMM = "comm";
  public static final String ERROR = "error";

  private static Kryo newKryo() {
    Kryo k = new Kryo();
    k.setRegistrationRequired(true);
    k.register(Plan.class, new Serializer<Plan>() {
      @Override
      public void write(Kryo kryo, Output o, Plan m) {
        o.writeVarInt(m.attempt(), true);
        o.writeString(m.runDir());
        o.writeString(m.configYaml());
        o.writeString(m.checkpoint());
        o.writeVarInt(m.stepTimeoutSeconds(), true);
      }

      @Override
      public Plan read(Kryo kryo, Input i, Class<? extends Plan> t) {
        return new Plan(i.readVarInt(true), i.readString(), i.readString(), i.readString(), i.readVarInt(true));
      }
    }, 200);
    k.register(Ready.class, new Serializer<Ready>() {
      @Override
      public void write(Kryo kryo, Output o, Ready m) {
        o.writeVarInt(m.rank(), true);
        o.writeVarLong(m.pid(), true);
        o.writeString(m.device());
        o.writeVarLong(m.parameters(), true);
        o.writeVarInt(m.stepsDone(), true);
        o.writeVarLong(m.memoryBytes(), true);
        o.writeVarInt(m.baselines().length, true);
        o.writeDoubles(m.baselines(), 0, m.baselines().length);
      }

      @Override
      public Ready read(Kryo kryo, Input i, Class<? extends Ready> t) {
        return new Ready(i.readVarInt(true), i.readVarLong(true), i.readString(), i.readVarLong(true),
            i.readVarInt(true), i.readVarLong(true), i.readDoubles(i.readVarInt(true)));
      }
    }, 201);
    k.register(Go.class, new Serializer<Go>() {
      @Override
      public void write(Kryo kryo, Output o, Go m) {
        o.writeVarInt(m.step(), true);
        o.writeBoolean(m.stop());
        o.writeBoolean(m.checkpoint());
      }

      @Override
      public Go read(Kryo kryo, Input i, Class<? extends Go> t) {
        return new Go(i.readVarInt(true), i.readBoolean(), i.readBoolean());
      }
    }, 202);
    k.register(StepDone.class, new Serializer<StepDone>() {
      @Override
      public void write(Kryo kryo, Output o, StepDone m) {
        o.writeVarInt(m.rank(), true);
        o.writeVarInt(m.step(), true);
        o.writeDouble(m.loss());
        o.writeFloat(m.lr());
        o.writeDouble(m.gradNorm());
        o.writeVarLong(m.tokens(), true);
        o.writeDouble(m.seconds());
        o.writeDouble(m.valLoss());
        o.writeString(m.checkpoint());
        o.writeVarLong(m.heapUsed(), true);
        o.writeVarLong(m.deviceBytes(), true);
        o.writeVarLong(m.tpBytes(), true);
        o.writeVarLong(m.dpBytes(), true);
        o.writeDouble(m.waitSeconds());
      }

      @Override
      public StepDone read(Kryo kryo, Input i, Class<? extends StepDone> t) {
        return new StepDone(i.readVarInt(true), i.readVarInt(true), i.readDouble(), i.readFloat(), i.readDouble(),
            i.readVarLong(true), i.readDouble(), i.readDouble(), i.readString(), i.readVarLong(true),
            i.readVarLong(true), i.readVarLong(true), i.readVarLong(true), i.readDouble());
      }
    }, 203);
    k.register(Failed.class, new Serializer<Failed>() {
      @Override
      public void write(Kryo kryo, Output o, Failed m) {
        o.writeVarInt(m.rank(), true);
        o.writeString(m.kind());
        o.writeString(m.message());
      }

      @Override
      public Failed read(Kryo kryo, Input i, Class<? extends Failed> t) {
        return new Failed(i.readVarInt(true), i.readString(), i.readString());
      }
    }, 204);
    return k;
  }

  /** A message's bytes: its class id, then its fields. */
  public static byte[] encode(Object message) {
    Output out = new Output(256, -1);
    KRYO.get().writeClassAndObject(out, message);
    return out.toBytes();
  }

  /** The message in {@code bytes}; a corrupt or unknown one is a {@link CommException.BadFrame}. */
  public static Object decode(byte[] bytes, String from) {
    try (Input in = new Input(bytes)) {
      Object m = KRYO.get().readClassAndObject(in);
      if (m == null || in.position() != bytes.length) {
        throw new CommException.BadFrame("control message from " + from + " has " + (bytes.length - in.position())
            + " trailing bytes");
      }
      return m;
    } catch (KryoException e) {
      throw new CommException.BadFrame("corrupt control message from " + from + ": " + e.getMessage(), e);
    }
  }

  static MessageKey key(long kind, int step) {
    return new MessageKey(GROUP, kind, step);
  }

  /** Sends a message and waits (at most {@code timeout}) until the destination member took it. */
  static void send(Transport t, int to, long kind, int step, Object message, Duration timeout) {
    try {
      t.send(to, key(kind, step), Codec.CONTROL, encode(message)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof CommException c ? c
          : new CommException("sending " + message.getClass().getSimpleName() + " to rank " + to + " failed", e);
    } catch (TimeoutException e) {
      throw new CommException.Timeout("rank " + to + " did not take " + message.getClass().getSimpleName()
          + " within " + timeout.toMillis() + " ms");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommException("interrupted while sending " + message.getClass().getSimpleName() + " to rank " + to,
          e);
    }
  }

  public static void sendPlan(Transport t, int worker, Plan p, Duration timeout) {
    send(t, worker, PLAN, 0, p, timeout);
  }

  public static void sendGo(Transport t, int worker, Go g, Duration timeout) {
    send(t, worker, GO, g.step(), g, timeout);
  }

  /** A worker's answer to the plan (Ready or Failed), or null if none came within {@code wait}. */
  public static Object pollReady(Transport t, int worker, Duration wait) {
    return poll(t, worker, READY, 0, wait);
  }

  /** A worker's answer to step {@code step} (StepDone or Failed), or null if none came within {@code wait}. */
  public static Object pollDone(Transport t, int worker, int step, Duration wait) {
    return poll(t, worker, DONE, step, wait);
  }

  private static Object poll(Transport t, int from, long kind, int step, Duration wait) {
    Frame f;
    try {
      f = t.receive(from, key(kind, step), wait);
    } catch (CommException.Timeout e) {
      return null;
    }
    return decode(f.payload(), "rank " + from);
  }

  static Object receive(Transport t, int from, long kind, int step, Duration timeout) {
    return decode(t.receive(from, key(kind, step), timeout).payload(), "rank " + from);
  }
}
