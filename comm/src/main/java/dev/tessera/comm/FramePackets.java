package dev.tessera.comm;

import com.hazelcast.cluster.Address;
import com.hazelcast.instance.EndpointQualifier;
import com.hazelcast.instance.impl.Node;
import com.hazelcast.internal.nio.Packet;
import com.hazelcast.internal.serialization.InternalSerializationService;
import com.hazelcast.internal.serialization.impl.HeapData;
import com.hazelcast.internal.server.ServerConnectionManager;
import com.hazelcast.internal.nio.BufferObjectDataInput;
import com.hazelcast.nio.ObjectDataInput;
import java.io.EOFException;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * Posted frames written straight into their packets. Hazelcast would serialise a frame's operation
 * into a pooled buffer that it grows for each frame and shrinks after (an allocation of the frame's
 * size, the frame copied in), then copy it out to the packet's bytes (a second); and the frame itself
 * was a third array. Here the packet's bytes are allocated once, at their size, and the frame is
 * encoded into them in place: on one core, a 512 KiB frame took 95-120 us to encode and serialise,
 * and 30-45 us this way (docs/comm.md). The receiver reads the packet as the operation it is.
 *
 * <p>The bytes around the frame (the operation's header, which for a posted {@link
 * HazelcastTransport.FrameOperation} of a rank is always the same) are taken from Hazelcast's own
 * serialisation of two small operations, and a packet built this way must deserialise to the
 * operation it stands for; if Hazelcast's format is not as expected, {@link #of} says so and returns
 * null, and frames go through Hazelcast's serialisation as before.
 *
 * <p>Arriving, a frame is read in place too ({@link #readInPlace}): it stays in the packet's bytes,
 * which Hazelcast allocated for that packet alone, instead of being copied out of them.
 */
final class FramePackets {
  private static final org.apache.logging.log4j.Logger LOG = org.apache.logging.log4j.LogManager.getLogger(
      FramePackets.class);

  /** Whether frames are written into and read from packets in place ({@value HazelcastTransport#DIRECT_PACKETS_PROPERTY}). */
  static final boolean ON = Boolean.parseBoolean(System.getProperty(HazelcastTransport.DIRECT_PACKETS_PROPERTY,
      "true"));
  /** Hazelcast's input over a packet's bytes, and its array and end, or null where they cannot be reached. */
  private static final Class<?> BYTE_INPUT;
  private static final VarHandle DATA;
  private static final VarHandle SIZE;

  static {
    Class<?> c = null;
    VarHandle data = null;
    VarHandle size = null;
    if (ON) {
      try {
        c = Class.forName("com.hazelcast.internal.serialization.impl.ByteArrayObjectDataInput");
        MethodHandles.Lookup l = MethodHandles.privateLookupIn(c, MethodHandles.lookup());
        data = l.findVarHandle(c, "data", byte[].class);
        size = l.findVarHandle(c, "size", int.class);
      } catch (ReflectiveOperationException | RuntimeException e) {
        LOG.warn("frames arriving are copied out of their packets: Hazelcast's input is not as expected ({})",
            e.toString());
        c = null;
        data = null;
        size = null;
      }
    }
    BYTE_INPUT = c;
    DATA = data;
    SIZE = size;
  }

  /** The operation's bytes before the frame's length, and after the frame. */
  private final byte[] prefix;
  private final byte[] suffix;
  private final ServerConnectionManager connections;

  private FramePackets(byte[] prefix, byte[] suffix, ServerConnectionManager connections) {
    this.prefix = prefix;
    this.suffix = suffix;
    this.connections = connections;
  }

  /** The packets of rank {@code source}'s posted frames, or null (logged) if Hazelcast's format is not as expected. */
  static FramePackets of(Node node, int source) {
    InternalSerializationService ss = node.getSerializationService();
    // Real frames (an operation read back is traced as one), of two lengths.
    MessageKey probe = new MessageKey(0, 0, 0);
    byte[] a = Frames.encode(source, source, probe, Codec.FP32, new byte[0]);
    byte[] opA = ss.toBytes(new HazelcastTransport.FrameOperation(source, a, false));
    int at = uniqueFrame(opA, a);
    if (at < 0) {
      LOG.warn("posted frames go through Hazelcast's serialisation: its operation bytes are not as expected");
      return null;
    }
    FramePackets p = new FramePackets(Arrays.copyOfRange(opA, 0, at - 4), Arrays.copyOfRange(opA, at + a.length,
        opA.length), node.getServer().getConnectionManager(EndpointQualifier.MEMBER));
    // A second frame, of another length, must come out as Hazelcast writes it and read back as the same operation.
    byte[] b = Frames.encode(source, source, probe, Codec.FP32, new byte[] {9, 8, 7, 6, 5, 4, 3, 2});
    byte[] opB = p.bytes(b.length, (buf, off) -> System.arraycopy(b, 0, buf, off, b.length));
    Object back;
    try {
      back = ss.toObject(new HeapData(opB));
    } catch (RuntimeException e) {
      back = e;
    }
    if (!Arrays.equals(opB, ss.toBytes(new HazelcastTransport.FrameOperation(source, b, false)))
        || !(back instanceof HazelcastTransport.FrameOperation op) || !Arrays.equals(op.frame(), b)) {
      LOG.warn("posted frames go through Hazelcast's serialisation: packets written directly did not read back ({})",
          back);
      return null;
    }
    return p;
  }

  /** Whether arriving frames are read in place ({@link #readInPlace}). */
  static boolean readsInPlace() {
    return BYTE_INPUT != null;
  }

  /**
   * Reads a frame operation's frame (its length, then its bytes, as {@code readByteArray} would) as a
   * region of the packet's bytes instead of a copy; false if {@code in} is not Hazelcast's input over
   * an array (then nothing was read). The packet's bytes are its own, allocated when it arrived, so the
   * frame may stay in them.
   */
  static boolean readInPlace(ObjectDataInput in, HazelcastTransport.FrameOperation op) throws IOException {
    if (BYTE_INPUT == null || !BYTE_INPUT.isInstance(in)) {
      return false;
    }
    BufferObjectDataInput b = (BufferObjectDataInput) in;
    int len = in.readInt();
    if (len <= 0) { // no frame: its receive reports it truncated
      op.frameAt(new byte[0], 0, 0);
      return true;
    }
    int pos = b.position();
    int size = (int) SIZE.get(in);
    if (len > size - pos) {
      throw new EOFException("a frame of " + len + " bytes in a packet with " + (size - pos) + " left");
    }
    b.position(pos + len);
    op.frameAt((byte[]) DATA.get(in), pos, len);
    return true;
  }

  /** Where {@code frame} sits in {@code op}, just after its length as a big-endian int; -1 unless exactly once. */
  private static int uniqueFrame(byte[] op, byte[] frame) {
    byte[] needle = new byte[4 + frame.length];
    writeLength(needle, 0, frame.length);
    System.arraycopy(frame, 0, needle, 4, frame.length);
    int found = -1;
    for (int i = 0; i + needle.length <= op.length; i++) {
      if (Arrays.equals(op, i, i + needle.length, needle, 0, needle.length)) {
        if (found >= 0) {
          return -1;
        }
        found = i + 4;
      }
    }
    return found;
  }

  /** A byte array's length as Hazelcast writes it before the array: a big-endian int. */
  private static void writeLength(byte[] buf, int at, int length) {
    buf[at] = (byte) (length >>> 24);
    buf[at + 1] = (byte) (length >>> 16);
    buf[at + 2] = (byte) (length >>> 8);
    buf[at + 3] = (byte) length;
  }

  private interface FrameWriter {
    void write(byte[] buf, int off);
  }

  private byte[] bytes(int frameLength, FrameWriter frame) {
    byte[] op = new byte[prefix.length + 4 + frameLength + suffix.length];
    System.arraycopy(prefix, 0, op, 0, prefix.length);
    int at = prefix.length;
    writeLength(op, at, frameLength);
    frame.write(op, at + 4);
    System.arraycopy(suffix, 0, op, at + 4 + frameLength, suffix.length);
    return op;
  }

  /**
   * Hands the frame, written into its packet, to the connection to {@code target} (as {@code
   * OperationService.send} does); false if it cannot be written (no connection, or the member stopping).
   */
  boolean send(Frames.Unwritten frame, Address target) {
    Packet packet = new Packet(operationBytes(frame), -1).setPacketType(Packet.Type.OPERATION);
    return connections.transmit(packet, target, -1);
  }

  /** The bytes of the posted operation carrying {@code frame}, as Hazelcast would serialise it. */
  byte[] operationBytes(Frames.Unwritten frame) {
    return bytes(frame.length(), frame::writeTo);
  }
}
