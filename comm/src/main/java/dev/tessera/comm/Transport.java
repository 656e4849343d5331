package dev.tessera.comm;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Tagged point-to-point messages between the ranks of a job. Sends are asynchronous; a receive
 * names its source and {@link MessageKey} and waits at most a timeout. Failures name the peer and
 * the key: {@link CommException.Timeout}, {@link CommException.PeerLost} (the peer left: every
 * pending and later operation with it fails), {@link CommException.BadFrame} (a corrupt frame,
 * which fails the receive it was meant for and nothing else).
 */
public interface Transport extends AutoCloseable {
  int rank();

  int size();

  /** Sends {@code payload} to {@code destination}; the future fails if the peer is gone. */
  CompletableFuture<Void> send(int destination, MessageKey key, byte codec, byte[] payload);

  /** Sends x[off..off+len) as fp32, written straight into the frame. */
  CompletableFuture<Void> sendFloats(int destination, MessageKey key, float[] x, int off, int len);

  /** The frame {@code source} sent with {@code key}, waiting at most {@code timeout}. */
  Frame receive(int source, MessageKey key, Duration timeout);

  /** Whether {@code rank} has left (a group with it fails its operations at once). */
  boolean isLost(int rank);

  /** Bytes and messages sent and received so far, per group. */
  Traffic traffic();

  @Override
  void close();
}
