package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class FramesTest {
  private static final MessageKey KEY = new MessageKey(3, 77L << 24, 12);

  private static byte[] frame(int payloadBytes) {
    byte[] payload = new byte[payloadBytes];
    for (int i = 0; i < payload.length; i++) {
      payload[i] = (byte) (i * 31);
    }
    return Frames.encode(1, 2, KEY, Codec.FP32, payload);
  }

  @Test
  void roundTripsHeaderAndPayload() {
    Frame f = Frames.decode(frame(1000), "rank 1");
    assertEquals(new FrameHeader(Frames.VERSION, 1, 2, 3, 77L << 24, 12, Codec.FP32, 1000, f.header().crc()),
        f.header());
    assertEquals(KEY, f.header().key());
    assertEquals(1000, f.payload().length);
    assertEquals((byte) (999 * 31), f.payload()[999]);
  }

  @Test
  void everyFlippedByteIsCaughtAndTheErrorNamesThePeer() {
    byte[] good = frame(64);
    for (int i = 0; i < good.length; i++) {
      byte[] bad = good.clone();
      bad[i] ^= 0x10;
      CommException e = assertThrows(CommException.class, () -> Frames.decode(bad, "rank 1"), "byte " + i);
      assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
    }
  }

  @Test
  void truncatedAndOversizedFramesAreRejected() {
    byte[] good = frame(100);
    CommException.BadFrame cut = assertThrows(CommException.BadFrame.class,
        () -> Frames.decode(Arrays.copyOf(good, good.length - 1), "rank 1"));
    assertTrue(cut.getMessage().contains("truncated"), cut.getMessage());
    assertEquals(KEY, cut.key());
    CommException.BadFrame longer = assertThrows(CommException.BadFrame.class,
        () -> Frames.decode(Arrays.copyOf(good, good.length + 3), "rank 1"));
    assertTrue(longer.getMessage().contains("oversized"), longer.getMessage());
    assertThrows(CommException.BadFrame.class, () -> Frames.decode(new byte[3], "rank 1"));
    assertThrows(IllegalArgumentException.class,
        () -> Frames.encode(0, 1, KEY, Codec.FP32, new byte[Frames.MAX_PAYLOAD + 1]));
  }

  @Test
  void unknownCodecsAndOtherBytesAreRejected() {
    byte[] f = Frames.encode(1, 2, KEY, (byte) 42, new byte[8]);
    CommException.BadFrame e = assertThrows(CommException.BadFrame.class, () -> Frames.decode(f, "rank 1"));
    assertTrue(e.getMessage().contains("unknown codec 42"), e.getMessage());
    byte[] junk = "GET / HTTP/1.1\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    CommException.BadFrame j = assertThrows(CommException.BadFrame.class, () -> Frames.decode(junk, "10.0.0.7"));
    assertTrue(j.getMessage().contains("not a Tessera frame from 10.0.0.7"), j.getMessage());
  }

  @Test
  void floatsTravelBitExact() {
    float[] x = {1f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NaN, 3.14159f};
    float[] y = new float[x.length];
    Floats.fromBytes(Floats.toBytes(x, 0, x.length), y, 0, x.length);
    for (int i = 0; i < x.length; i++) {
      assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]));
    }
    assertArrayEquals(new float[] {-0f, Float.MIN_VALUE}, Arrays.copyOfRange(y, 1, 3));
  }
}
