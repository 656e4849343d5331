package dev.tessera.comm;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Traffic counters per group and codec: payload bytes and messages sent and received, and time
 * spent waiting to receive (for the metrics: bytes on the wire per step, group and codec).
 */
public final class Traffic {
  /** Counters of one group (and codec). */
  public record Counts(long bytesSent, long messagesSent, long bytesReceived, long messagesReceived,
      long receiveWaitNanos) {

    Counts plus(Counts o) {
      return new Counts(bytesSent + o.bytesSent, messagesSent + o.messagesSent, bytesReceived + o.bytesReceived,
          messagesReceived + o.messagesReceived, receiveWaitNanos + o.receiveWaitNanos);
    }
  }

  /** A group and a codec. */
  public record Key(int group, byte codec) implements Comparable<Key> {
    @Override
    public int compareTo(Key o) {
      return group != o.group ? Integer.compare(group, o.group) : Byte.compare(codec, o.codec);
    }
  }

  private static final class Adders {
    final LongAdder bytesSent = new LongAdder();
    final LongAdder messagesSent = new LongAdder();
    final LongAdder bytesReceived = new LongAdder();
    final LongAdder messagesReceived = new LongAdder();
    final LongAdder waitNanos = new LongAdder();

    Counts counts() {
      return new Counts(bytesSent.sum(), messagesSent.sum(), bytesReceived.sum(), messagesReceived.sum(),
          waitNanos.sum());
    }
  }

  private final Map<Key, Adders> counters = new ConcurrentHashMap<>();

  private Adders of(int group, byte codec) {
    return counters.computeIfAbsent(new Key(group, codec), k -> new Adders());
  }

  void sent(int group, byte codec, long payloadBytes) {
    Adders a = of(group, codec);
    a.bytesSent.add(payloadBytes);
    a.messagesSent.increment();
  }

  void received(int group, byte codec, long payloadBytes, long waitNanos) {
    Adders a = of(group, codec);
    a.bytesReceived.add(payloadBytes);
    a.messagesReceived.increment();
    a.waitNanos.add(waitNanos);
  }

  /** Counters by group and codec. */
  public Map<Key, Counts> byCodec() {
    Map<Key, Counts> out = new TreeMap<>();
    counters.forEach((k, a) -> out.put(k, a.counts()));
    return out;
  }

  /** Counters by group, all codecs together. */
  public Map<Integer, Counts> snapshot() {
    Map<Integer, Counts> out = new TreeMap<>();
    counters.forEach((k, a) -> out.merge(k.group(), a.counts(), Counts::plus));
    return out;
  }
}
