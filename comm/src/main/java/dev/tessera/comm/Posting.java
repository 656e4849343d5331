package dev.tessera.comm;

import com.hazelcast.cluster.Member;
import com.hazelcast.spi.impl.operationservice.OperationService;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntFunction;

/**
 * The posted frames of a {@link HazelcastTransport}: operations with no response. What a response
 * used to do, it does at the ends of a rank's life with a peer:
 * <ul>
 *   <li>the first post to a peer waits for one confirmed operation to it (a greeting), so that the
 *       connection is up and the peer knows this member: a posted frame that reaches a member which
 *       has not seen its sender join is dropped by Hazelcast, where an invocation is retried;
 *   <li>both ends count the posted frames (sent here to each peer, arrived here from each), and
 *       {@link #flush} asks each peer posted to how many of this rank's have arrived, until all have
 *       or the time is up, and says which peer is short.
 * </ul>
 */
final class Posting {
  private static final org.apache.logging.log4j.Logger LOG = org.apache.logging.log4j.LogManager.getLogger(
      Posting.class);

  /** Set once the member has started ({@link #start}); frames may arrive before. */
  private volatile OperationService operations;
  /** Frames written straight into their packets, or null: through Hazelcast's serialisation. */
  private volatile FramePackets packets;
  private final int rank;
  private final Duration timeout;
  /** The member of a live rank, or null if it is gone. */
  private final IntFunction<Member> target;
  private final AtomicLongArray posted;
  private final AtomicLongArray arrived;
  private final Map<Integer, CompletableFuture<Object>> greetings = new ConcurrentHashMap<>();

  Posting(int rank, int size, Duration timeout, IntFunction<Member> target) {
    this.rank = rank;
    this.timeout = timeout;
    this.target = target;
    this.posted = new AtomicLongArray(size);
    this.arrived = new AtomicLongArray(size);
  }

  /** The member has started: posts may go (written into their packets with {@code packets}, unless null). */
  void start(OperationService ops, FramePackets packets) {
    this.operations = ops;
    this.packets = packets;
  }

  /**
   * Hands the frame to the connection to {@code m} (it is written here, so its source may be reused at
   * once), after the greeting if it is the first to that rank.
   */
  CompletableFuture<Void> post(Member m, int destination, MessageKey key, Frames.Unwritten frame) {
    CompletableFuture<Object> greeting = greet(m, destination);
    try {
      greeting.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      greetings.remove(destination, greeting);
      return CompletableFuture.failedFuture(new CommException.Timeout("rank " + destination + " did not answer rank "
          + rank + "'s greeting within " + timeout.toMillis() + " ms (before " + key + ")"));
    } catch (ExecutionException e) {
      greetings.remove(destination, greeting);
      return CompletableFuture.failedFuture(new CommException.PeerLost("rank " + destination + " did not answer rank "
          + rank + "'s greeting (before " + key + "): " + (e.getCause() != null ? e.getCause() : e)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return CompletableFuture.failedFuture(new CommException("interrupted greeting rank " + destination, e));
    }
    posted.incrementAndGet(destination);
    Trace.mark(Trace.Stage.SERIALISE, rank, destination, key, frame.length());
    FramePackets direct = packets;
    if (direct != null ? direct.send(frame, m.getAddress())
        : operations.send(new HazelcastTransport.FrameOperation(rank, frame.toBytes(), false), m.getAddress())) {
      Trace.mark(Trace.Stage.HANDED, rank, destination, key, frame.length());
      return CompletableFuture.completedFuture(null);
    }
    // Hazelcast refuses a packet only when it cannot be written: the connection gone, or the member stopping.
    return CompletableFuture.failedFuture(new CommException.PeerLost("posting " + key + " to rank " + destination
        + " failed: no connection to " + m.getAddress()));
  }

  /**
   * Starts greeting every rank there is (they have all joined), so that the first posts need not wait
   * (a codec thread would otherwise wait on a peer once per peer).
   */
  void greetAll() {
    for (int r = 0; r < posted.length(); r++) {
      Member m = r == rank ? null : target.apply(r);
      if (m != null) {
        greet(m, r);
      }
    }
  }

  private CompletableFuture<Object> greet(Member m, int destination) {
    return greetings.computeIfAbsent(destination, d -> operations.invokeOnTarget(HazelcastTransport.SERVICE,
        new HazelcastTransport.FlushOperation(rank), m.getAddress()));
  }

  /** Whether posted frames are written straight into their packets ({@link FramePackets}). */
  boolean writesPacketsDirectly() {
    return packets != null;
  }

  /** A posted frame from {@code source} has been handed to the mailboxes (or parked for its sender's proof). */
  void arrived(int source) {
    if (source >= 0 && source < arrived.length()) {
      arrived.incrementAndGet(source);
    }
  }

  /** Posted frames from {@code source} that have arrived here. */
  long arrivedFrom(int source) {
    return source >= 0 && source < arrived.length() ? arrived.get(source) : -1;
  }

  /**
   * Waits, at most the timeout, until each peer posted to has all the frames posted to it, asking
   * it every few milliseconds. A peer gone meanwhile is skipped; one still short at the end is logged.
   */
  void flush() {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (int r = 0; r < posted.length(); r++) {
      long want = posted.get(r);
      long got = 0;
      while (want > 0 && got >= 0 && got < want && target.apply(r) != null) {
        try {
          Object n = operations.invokeOnTarget(HazelcastTransport.SERVICE, new HazelcastTransport.FlushOperation(
              rank), target.apply(r).getAddress()).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          got = n instanceof Long l ? l : -1;
          if (got >= 0 && got < want) {
            if (System.nanoTime() > deadline) {
              break;
            }
            Thread.sleep(5);
          }
        } catch (TimeoutException e) {
          break;
        } catch (ExecutionException e) {
          LOG.debug("rank {} closing: rank {} is gone ({})", rank, r, e.getCause() != null ? e.getCause() : e);
          got = -1;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      if (got >= 0 && got < want && target.apply(r) != null) {
        LOG.warn("rank {} closing: rank {} has {} of the {} frames posted to it after {} s", rank, r, got, want,
            timeout.toSeconds());
      }
    }
  }
}
