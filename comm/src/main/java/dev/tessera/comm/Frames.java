package dev.tessera.comm;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.KryoException;
import com.esotericsoftware.kryo.kryo5.Serializer;
import com.esotericsoftware.kryo.kryo5.io.Input;
import com.esotericsoftware.kryo.kryo5.io.Output;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The wire format of a frame: a 4-byte magic, then the {@link FrameHeader} written by Kryo5
 * (registration required, explicit class id), then the payload bytes. The header's CRC32C covers
 * the header (with the CRC field zero) and the payload. {@link #decode} rejects a wrong magic or
 * version, an unknown class or codec, a length that disagrees with the bytes or exceeds
 * {@link #MAX_PAYLOAD}, and a CRC mismatch, with an error naming the peer the bytes came from.
 */
public final class Frames {
  public static final int VERSION = 1;
  /** "TSRA". */
  static final int MAGIC = 0x54535241;
  /** Largest payload of one frame; tensors travel in chunks well below it. */
  public static final int MAX_PAYLOAD = 64 << 20;
  /** Kryo class id of the header. */
  static final int HEADER_ID = 100;
  private static final int MAX_HEADER = 64;

  private static final ThreadLocal<Kryo> KRYO = ThreadLocal.withInitial(Frames::newKryo);

  private Frames() {
  }

  private static Kryo newKryo() {
    Kryo kryo = new Kryo();
    kryo.setRegistrationRequired(true);
    kryo.register(FrameHeader.class, new HeaderSerializer(), HEADER_ID);
    return kryo;
  }

  /** Writes a header field by field, variable-length where that saves bytes. */
  static final class HeaderSerializer extends Serializer<FrameHeader> {
    @Override
    public void write(Kryo kryo, Output out, FrameHeader h) {
      out.writeVarInt(h.version(), true);
      out.writeVarInt(h.source(), true);
      out.writeVarInt(h.destination(), true);
      out.writeVarInt(h.group(), true);
      out.writeVarLong(h.tag(), true);
      out.writeVarLong(h.step(), true);
      out.writeByte(h.codec());
      out.writeVarInt(h.length(), true);
      out.writeInt(h.crc());
    }

    @Override
    public FrameHeader read(Kryo kryo, Input in, Class<? extends FrameHeader> type) {
      return new FrameHeader(in.readVarInt(true), in.readVarInt(true), in.readVarInt(true), in.readVarInt(true),
          in.readVarLong(true), in.readVarLong(true), in.readByte(), in.readVarInt(true), in.readInt());
    }
  }

  private static byte[] headerBytes(FrameHeader h) {
    Output out = new Output(MAX_HEADER);
    out.writeInt(MAGIC);
    KRYO.get().writeClassAndObject(out, h);
    return out.toBytes();
  }

  private static int crc(FrameHeader h, byte[] payload, int off, int len) {
    FrameHeader zero = new FrameHeader(h.version(), h.source(), h.destination(), h.group(), h.tag(), h.step(),
        h.codec(), h.length(), 0);
    CRC32C crc = new CRC32C();
    crc.update(headerBytes(zero));
    crc.update(payload, off, len);
    return (int) crc.getValue();
  }

  /** One frame from {@code source} to {@code destination} carrying {@code payload}. */
  public static byte[] encode(int source, int destination, MessageKey key, byte codec, byte[] payload) {
    return bytes(source, destination, key, codec, payload).toBytes();
  }

  /** One frame carrying x[off..off+len) as fp32, written straight into the frame (no intermediate copy). */
  public static byte[] encodeFloats(int source, int destination, MessageKey key, float[] x, int off, int len) {
    return floats(source, destination, key, x, off, len).toBytes();
  }

  /**
   * A frame not written yet: its length is known, and {@link #writeTo} writes it, sealed, into any
   * array at any offset (a posted frame goes straight into its packet's bytes, {@link FramePackets}).
   * The payload's source must stay as it is until then.
   */
  static final class Unwritten {
    /** The header with CRC zero, and its bytes. */
    private final FrameHeader zero;
    private final byte[] head;
    private final int length;
    private final PayloadWriter payload;

    private Unwritten(FrameHeader zero, PayloadWriter payload) {
      this.zero = zero;
      this.head = headerBytes(zero);
      this.length = zero.length();
      this.payload = payload;
    }

    /** The frame's bytes: header and payload. */
    int length() {
      return head.length + length;
    }

    /** Writes the sealed frame into buf[off .. off + length()). */
    void writeTo(byte[] buf, int off) {
      System.arraycopy(head, 0, buf, off, head.length);
      payload.write(buf, off + head.length);
      seal(zero, buf, off, head.length, length);
    }

    byte[] toBytes() {
      byte[] frame = new byte[length()];
      writeTo(frame, 0);
      return frame;
    }
  }

  private interface PayloadWriter {
    void write(byte[] buf, int off);
  }

  /** A frame carrying {@code payload}, to be written. */
  static Unwritten bytes(int source, int destination, MessageKey key, byte codec, byte[] payload) {
    return new Unwritten(zeroHeader(source, destination, key, codec, payload.length),
        (buf, off) -> System.arraycopy(payload, 0, buf, off, payload.length));
  }

  /** A frame carrying x[off..off+len) as fp32, to be written. */
  static Unwritten floats(int source, int destination, MessageKey key, float[] x, int off, int len) {
    return new Unwritten(zeroHeader(source, destination, key, Codec.FP32, 4 * len),
        (buf, at) -> ByteBuffer.wrap(buf, at, 4 * len).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
            .put(x, off, len));
  }

  /** A frame's header with CRC zero. */
  private static FrameHeader zeroHeader(int source, int destination, MessageKey key, byte codec, int length) {
    if (length > MAX_PAYLOAD) {
      throw new IllegalArgumentException("payload of " + length + " bytes exceeds the frame limit of " + MAX_PAYLOAD
          + " (" + key + "); send it in chunks");
    }
    return new FrameHeader(VERSION, source, destination, key.group(), key.tag(), key.step(), codec, length, 0);
  }

  /**
   * Computes the CRC over the frame at buf[off ..] (header with CRC zero, then payload), and writes it
   * into the header.
   */
  private static void seal(FrameHeader zero, byte[] buf, int off, int headLength, int length) {
    CRC32C crc = new CRC32C();
    crc.update(buf, off, headLength + length);
    FrameHeader h = new FrameHeader(zero.version(), zero.source(), zero.destination(), zero.group(), zero.tag(),
        zero.step(), zero.codec(), zero.length(), (int) crc.getValue());
    byte[] head = headerBytes(h);
    if (head.length != headLength) {
      throw new IllegalStateException("frame header changed length when sealed");
    }
    System.arraycopy(head, 0, buf, off, headLength);
  }

  /** The header of the frame at bytes[off ..], unverified (its CRC is not checked). */
  static FrameHeader readHeader(byte[] bytes, int off, String peer) {
    try (Input in = new Input(bytes, off, Math.min(bytes.length - off, MAX_HEADER))) {
      int magic = in.readInt();
      if (magic != MAGIC || !(KRYO.get().readClassAndObject(in) instanceof FrameHeader h)) {
        throw new CommException.BadFrame("not a Tessera frame header from " + peer);
      }
      return h;
    } catch (KryoException e) {
      throw new CommException.BadFrame("corrupt frame header from " + peer + ": " + e.getMessage(), e);
    }
  }

  /**
   * Decodes and verifies a frame that arrived from {@code peer} (the transport's idea of the
   * sender, named in every error).
   */
  public static Frame decode(byte[] bytes, String peer) {
    return decode(bytes, 0, bytes == null ? 0 : bytes.length, peer);
  }

  /** Decodes and verifies the frame at bytes[off .. off + len) (the payload is not copied). */
  static Frame decode(byte[] bytes, int off, int len, String peer) {
    if (bytes == null || len < 6) {
      throw new CommException.BadFrame("truncated frame from " + peer + ": " + (bytes == null ? 0 : len) + " bytes");
    }
    FrameHeader h;
    int headerEnd;
    try (Input in = new Input(bytes, off, Math.min(len, MAX_HEADER))) {
      int magic = in.readInt();
      if (magic != MAGIC) {
        throw new CommException.BadFrame("not a Tessera frame from " + peer + " (magic " + Integer.toHexString(magic)
            + ")");
      }
      Object o = KRYO.get().readClassAndObject(in);
      if (!(o instanceof FrameHeader fh)) {
        throw new CommException.BadFrame("frame from " + peer + " has no header");
      }
      h = fh;
      headerEnd = in.position();
    } catch (KryoException e) {
      throw new CommException.BadFrame("corrupt frame header from " + peer + ": " + e.getMessage(), e);
    }
    if (h.version() != VERSION) {
      throw new CommException.BadFrame("frame from " + peer + " has version " + h.version() + "; this build reads "
          + VERSION);
    }
    if (!Codec.known(h.codec())) {
      throw new CommException.BadFrame("frame from " + peer + " (" + h.key() + ") uses unknown codec " + h.codec(),
          h.key());
    }
    if (h.length() < 0 || h.length() > MAX_PAYLOAD) {
      throw new CommException.BadFrame("frame from " + peer + " (" + h.key() + ") claims " + h.length()
          + " payload bytes; the limit is " + MAX_PAYLOAD, h.key());
    }
    int have = off + len - headerEnd;
    if (have != h.length()) {
      throw new CommException.BadFrame((have < h.length() ? "truncated" : "oversized") + " frame from " + peer + " ("
          + h.key() + "): " + have + " payload bytes, header says " + h.length(), h.key());
    }
    if (crc(h, bytes, headerEnd, have) != h.crc()) {
      throw new CommException.BadFrame("corrupt frame from " + peer + " (" + h.key() + "): CRC32C mismatch", h.key());
    }
    return new Frame(h, bytes, headerEnd);
  }
}
