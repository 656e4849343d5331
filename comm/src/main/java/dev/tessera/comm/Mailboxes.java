package dev.tessera.comm;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Where a rank's incoming frames wait for their receives, keyed by (source, key); whichever of
 * the frame and the receive comes first creates the slot. Transports feed it raw bytes
 * ({@link #deliver}); decoding and verification happen here, so every transport rejects bad frames
 * the same way: a frame whose header is readable fails the receive it was meant for, one whose
 * header is not fails the receives pending from that peer; neither touches other slots.
 */
final class Mailboxes {
  private record Slot(int source, MessageKey key) {
  }

  private final int rank;
  private final Traffic traffic;
  private final Map<Slot, CompletableFuture<Frame>> slots = new ConcurrentHashMap<>();
  private final Map<Integer, CommException> lost = new ConcurrentHashMap<>();

  Mailboxes(int rank, Traffic traffic) {
    this.rank = rank;
    this.traffic = traffic;
  }

  private CompletableFuture<Frame> slot(int source, MessageKey key) {
    return slots.computeIfAbsent(new Slot(source, key), s -> new CompletableFuture<>());
  }

  /** Bytes that arrived from rank {@code source} (as the transport knows it). */
  void deliver(int source, byte[] bytes) {
    deliver(source, bytes, 0, bytes.length);
  }

  /** A frame at bytes[off .. off + len) that arrived from rank {@code source} (kept there, not copied). */
  void deliver(int source, byte[] bytes, int off, int len) {
    Frame f;
    try {
      f = Frames.decode(bytes, off, len, "rank " + source);
    } catch (CommException.BadFrame e) {
      if (e.key() != null) {
        slot(source, e.key()).completeExceptionally(e);
      } else {
        slots.forEach((s, fut) -> {
          if (s.source() == source) {
            fut.completeExceptionally(e);
          }
        });
      }
      return;
    }
    FrameHeader h = f.header();
    if (h.source() != source || h.destination() != rank) {
      slot(source, h.key()).completeExceptionally(new CommException.BadFrame("frame from rank " + source + " ("
          + h.key() + ") claims to be from rank " + h.source() + " to rank " + h.destination() + "; this is rank "
          + rank, h.key()));
      return;
    }
    Trace.mark(Trace.Stage.DELIVERED, source, rank, h.key(), h.length()); // before a waiting receive can mark
    slot(source, h.key()).complete(f);
  }

  /**
   * {@code peer} left: every pending receive fails (from any source: a membership change fails
   * the step everywhere, and the pending operation may wait on a rank that will now abort), and
   * every later receive from {@code peer}.
   */
  void peerLost(int peer, String why) {
    CommException e = new CommException.PeerLost("rank " + peer + " is gone: " + why);
    lost.put(peer, e);
    slots.forEach((s, fut) -> fut.completeExceptionally(e));
  }

  boolean isLost(int peer) {
    return lost.containsKey(peer);
  }

  /** This rank left: its pending and later receives fail. */
  void close(String why) {
    for (Slot s : slots.keySet()) {
      peerLost(s.source(), why);
    }
    closed = why;
  }

  private volatile String closed;

  Frame receive(int source, MessageKey key, Duration timeout) {
    Slot slot = new Slot(source, key);
    CompletableFuture<Frame> fut = slot(source, key);
    if (closed != null) {
      throw new CommException.PeerLost("rank " + rank + " " + closed + " (waiting for rank " + source + ", " + key
          + ")");
    }
    CommException gone = lost.get(source);
    if (gone != null && !fut.isDone()) {
      slots.remove(slot);
      throw new CommException.PeerLost(gone.getMessage() + " (rank " + rank + " waiting for " + key + ")");
    }
    long t0 = System.nanoTime();
    Trace.mark(Trace.Stage.WAIT, source, rank, key, 0);
    boolean keep = false;
    try {
      Frame f = fut.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      Trace.mark(Trace.Stage.RECEIVED, source, rank, key, f.payloadLength());
      traffic.received(key.group(), f.header().codec(), f.payloadLength(), System.nanoTime() - t0);
      return f;
    } catch (TimeoutException e) {
      // The slot stays: a frame that arrives now is kept for the next receive of the same key (a
      // coordinator polling its workers) instead of being dropped with the slot.
      keep = true;
      throw new CommException.Timeout("rank " + rank + " got nothing from rank " + source + " for " + key + " within "
          + timeout.toMillis() + " ms");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommException("interrupted while rank " + rank + " waited for rank " + source + " (" + key + ")", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof CommException.PeerLost p) {
        throw new CommException.PeerLost(p.getMessage() + " (rank " + rank + " waiting for " + key + ")");
      }
      if (e.getCause() instanceof CommException c) {
        throw c;
      }
      throw new CommException("receive from rank " + source + " failed", e.getCause());
    } finally {
      if (!keep) {
        slots.remove(slot);
      }
    }
  }
}
