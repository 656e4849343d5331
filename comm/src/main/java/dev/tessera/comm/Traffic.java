package dev.tessera.comm;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** Traffic counters per group: bytes and messages sent and received, and time spent waiting to receive. */
public final class Traffic {
  /** Counters of one group. */
  public record Counts(long bytesSent, long messagesSent, long bytesReceived, long messagesReceived,
      long receiveWaitNanos) {
  }

  private static final class Adders {
    final LongAdder bytesSent = new LongAdder();
    final LongAdder messagesSent = new LongAdder();
    final LongAdder bytesReceived = new LongAdder();
    final LongAdder messagesReceived = new LongAdder();
    final LongAdder waitNanos = new LongAdder();
  }

  private final Map<Integer, Adders> groups = new ConcurrentHashMap<>();

  private Adders of(int group) {
    return groups.computeIfAbsent(group, g -> new Adders());
  }

  void sent(int group, long frameBytes) {
    Adders a = of(group);
    a.bytesSent.add(frameBytes);
    a.messagesSent.increment();
  }

  void received(int group, long frameBytes, long waitNanos) {
    Adders a = of(group);
    a.bytesReceived.add(frameBytes);
    a.messagesReceived.increment();
    a.waitNanos.add(waitNanos);
  }

  /** A snapshot, by group id. */
  public Map<Integer, Counts> snapshot() {
    Map<Integer, Counts> out = new TreeMap<>();
    groups.forEach((g, a) -> out.put(g, new Counts(a.bytesSent.sum(), a.messagesSent.sum(), a.bytesReceived.sum(),
        a.messagesReceived.sum(), a.waitNanos.sum())));
    return out;
  }
}
