package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.instance.impl.HazelcastInstanceProxy;
import com.hazelcast.instance.impl.Node;
import com.hazelcast.internal.serialization.InternalSerializationService;
import com.hazelcast.internal.serialization.impl.HeapData;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Posted frames written straight into their packets ({@link FramePackets}) against Hazelcast's own serialisation. */
class FramePacketsTest {
  @Test
  void aFrameWrittenIntoItsPacketIsTheOperationHazelcastWouldSerialise() throws Exception {
    String member = HazelcastTransportTest.freeLoopbackPorts(1).get(0);
    try (HazelcastTransport t = HazelcastTransport.start(HazelcastTransport.Settings.loopback(
        "tessera-test-" + System.nanoTime(), 0, java.util.List.of(member), Duration.ofSeconds(30)))) {
      Node node = ((HazelcastInstanceProxy) t.hazelcast()).getOriginal().node;
      InternalSerializationService ss = node.getSerializationService();
      FramePackets packets = FramePackets.of(node, 5);
      assertNotNull(packets, "Hazelcast's operation bytes are not as FramePackets expects (a new Hazelcast version?)");
      float[] x = new float[70_000];
      Random r = new Random(3);
      for (int i = 0; i < x.length; i++) {
        x[i] = r.nextFloat() - 0.5f;
      }
      MessageKey key = new MessageKey(7, (3L << 24) | 2, 41);
      byte[] direct = packets.operationBytes(Frames.floats(5, 1, key, x, 123, 65_536));
      byte[] viaHazelcast = ss.toBytes(new HazelcastTransport.FrameOperation(5,
          Frames.encodeFloats(5, 1, key, x, 123, 65_536), false));
      assertArrayEquals(viaHazelcast, direct);

      assertTrue(FramePackets.readsInPlace(), "arriving frames are copied out of their packets");
      HazelcastTransport.FrameOperation back = ss.toObject(new HeapData(direct));
      float[] got = new float[65_536];
      Frames.decode(back.frame(), "rank 5").floatsInto(got, 0, got.length, false, null);
      assertArrayEquals(java.util.Arrays.copyOfRange(x, 123, 123 + 65_536), got);

      // A packet cut short fails to read; it never yields a frame that runs past its bytes.
      byte[] cut = java.util.Arrays.copyOf(direct, direct.length - 100);
      assertThrows(RuntimeException.class, () -> ss.toObject(new HeapData(cut)));

      byte[] payload = new byte[3000];
      r.nextBytes(payload);
      assertArrayEquals(ss.toBytes(new HazelcastTransport.FrameOperation(5, Frames.encode(5, 1, key, Codec.BF16, payload),
          false)), packets.operationBytes(Frames.bytes(5, 1, key, Codec.BF16, payload)));
    }
  }
}
