package dev.tessera.comm;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.UnaryOperator;

/**
 * Ranks in one JVM with the same semantics as the Hazelcast transport: frames are encoded,
 * handed over as bytes and decoded and verified on arrival. For unit tests and in-JVM layouts
 * (ranks as threads). {@link #kill} makes a rank leave; {@link #tamper} lets a test damage frames
 * in flight.
 */
public final class LocalFabric {
  private final Mailboxes[] boxes;
  private final Traffic[] traffic;
  private final boolean[] dead; // written under the fabric's lock, read racily (a late read only delays a failure)
  private volatile UnaryOperator<byte[]> tamper = UnaryOperator.identity();

  public LocalFabric(int size) {
    if (size < 1) {
      throw new IllegalArgumentException("a fabric needs at least one rank, got " + size);
    }
    boxes = new Mailboxes[size];
    traffic = new Traffic[size];
    dead = new boolean[size];
    for (int r = 0; r < size; r++) {
      traffic[r] = new Traffic();
      boxes[r] = new Mailboxes(r, traffic[r]);
    }
  }

  public int size() {
    return boxes.length;
  }

  /** The transport of rank {@code r}. */
  public Transport transport(int r) {
    return new Local(r);
  }

  /** Rank {@code r} leaves: every pending and later operation with it fails on the others. */
  public synchronized void kill(int r) {
    dead[r] = true;
    boxes[r].close("left the fabric");
    for (int o = 0; o < boxes.length; o++) {
      if (o != r) {
        boxes[o].peerLost(r, "left the fabric");
      }
    }
  }

  /** Every frame in flight passes through {@code f} (tests: truncate, flip bits). */
  public void tamper(UnaryOperator<byte[]> f) {
    tamper = f;
  }

  private final class Local implements Transport {
    private final int rank;

    Local(int rank) {
      this.rank = rank;
    }

    @Override
    public int rank() {
      return rank;
    }

    @Override
    public int size() {
      return boxes.length;
    }

    @Override
    public CompletableFuture<Void> send(int destination, MessageKey key, byte codec, byte[] payload) {
      CompletableFuture<Void> gone = check(destination, key);
      return gone != null ? gone : deliver(destination, key, codec, Frames.encode(rank, destination, key, codec,
          payload), payload.length);
    }

    @Override
    public CompletableFuture<Void> postFloats(int destination, MessageKey key, float[] x, int off, int len) {
      CompletableFuture<Void> gone = check(destination, key);
      return gone != null ? gone : deliver(destination, key, Codec.FP32, Frames.encodeFloats(rank, destination, key, x,
          off, len), 4 * len);
    }

    private CompletableFuture<Void> deliver(int destination, MessageKey key, byte codec, byte[] frame,
        int payloadBytes) {
      traffic[rank].sent(key.group(), codec, payloadBytes);
      boxes[destination].deliver(rank, tamper.apply(frame));
      return CompletableFuture.completedFuture(null);
    }

    /** A failed future if the send cannot happen, else null. */
    private CompletableFuture<Void> check(int destination, MessageKey key) {
      if (destination < 0 || destination >= boxes.length) {
        throw new IllegalArgumentException("no rank " + destination + " in a fabric of " + boxes.length);
      }
      if (dead[destination]) {
        return CompletableFuture.failedFuture(new CommException.PeerLost("rank " + destination
            + " is gone: left the fabric (rank " + rank + " sending " + key + ")"));
      }
      if (dead[rank]) {
        return CompletableFuture.failedFuture(new CommException.PeerLost("rank " + rank + " left the fabric"));
      }
      return null;
    }

    @Override
    public Frame receive(int source, MessageKey key, Duration timeout) {
      return boxes[rank].receive(source, key, timeout);
    }

    @Override
    public boolean isLost(int r) {
      return dead[r];
    }

    @Override
    public Traffic traffic() {
      return traffic[rank];
    }

    @Override
    public void close() {
      kill(rank);
    }
  }
}
