package dev.tessera.comm;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Tagged point-to-point messages between the ranks of a job. Sends are asynchronous, either
 * confirmed ({@link #send}: the future completes once the destination has the frame) or posted
 * ({@link #post}: once the frame is on its way, the receive at the other end being what tells it
 * came; one message trip instead of a round trip, for collectives). A receive
 * names its source and {@link MessageKey} and waits at most a timeout. Failures name the peer and
 * the key: {@link CommException.Timeout}, {@link CommException.PeerLost} (the peer left: every
 * pending and later operation with it fails), {@link CommException.BadFrame} (a corrupt frame,
 * which fails the receive it was meant for and nothing else).
 */
public interface Transport extends AutoCloseable {
  int rank();

  int size();

  /**
   * Sends {@code payload} to {@code destination}: the future completes once the destination has taken
   * the frame, and fails if the peer is gone (for messages whose sender may go on only then: the
   * control plane).
   */
  CompletableFuture<Void> send(int destination, MessageKey key, byte codec, byte[] payload);

  /**
   * Posts {@code payload} to {@code destination}: the future completes once the frame is on its way
   * (the payload copied: the caller may reuse it), and fails if the peer is already gone. A peer that
   * dies before the frame arrives fails the receive waiting for it, like any lost peer; {@link #close}
   * first waits until what was posted has reached the peers still there.
   */
  default CompletableFuture<Void> post(int destination, MessageKey key, byte codec, byte[] payload) {
    return send(destination, key, codec, payload);
  }

  /** Posts x[off..off+len) as fp32, written straight into the frame. */
  CompletableFuture<Void> postFloats(int destination, MessageKey key, float[] x, int off, int len);

  /** The frame {@code source} sent with {@code key}, waiting at most {@code timeout}. */
  Frame receive(int source, MessageKey key, Duration timeout);

  /** Whether {@code rank} has left (a group with it fails its operations at once). */
  boolean isLost(int rank);

  /** Bytes and messages sent and received so far, per group. */
  Traffic traffic();

  /**
   * The run is over for this rank: peers that leave from now on are expected (still marked lost, but
   * not warned about).
   */
  default void leaving() {
  }

  @Override
  void close();
}
