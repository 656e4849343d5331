package dev.tessera.comm;

import com.hazelcast.cluster.Address;
import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.instance.impl.HazelcastInstanceProxy;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.spi.impl.operationservice.Operation;
import com.hazelcast.spi.impl.operationservice.OperationService;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link Transport} over Hazelcast: every rank is an embedded member of the job's cluster (its rank
 * a member attribute), and a frame goes straight to its destination member as a Hazelcast
 * operation carrying the frame's bytes, which the destination hands to its {@link Mailboxes} (no
 * map, no partition owner in between). A sent frame's operation returns a response (the
 * confirmation); a posted one's does not, which halves the packets and the thread hand-offs of a
 * collective (on 16 cores, an 8-member all-reduce of 64 KiB: 13.8 to 6.3 ms; docs/comm.md), and is
 * encoded straight into its packet's bytes ({@link FramePackets}). A member
 * that leaves the cluster fails every pending operation at once; heartbeats are tuned so that a
 * silent one is removed within the timeout.
 */
public final class HazelcastTransport implements Transport {
  /** Member attribute holding a member's rank. */
  public static final String RANK_ATTRIBUTE = "tessera.rank";
  static final String SERVICE = "tessera:transport";
  /**
   * System property: false sends posted frames through Hazelcast's serialisation of their operation,
   * and copies arriving frames out of their packets, instead of writing and reading them in place
   * ({@link FramePackets}).
   */
  public static final String DIRECT_PACKETS_PROPERTY = "tessera.comm.directPackets";
  private static final org.apache.logging.log4j.Logger LOG =
      org.apache.logging.log4j.LogManager.getLogger(HazelcastTransport.class);
  /** Transports of this JVM by Hazelcast instance name, for the operations to find their mailboxes. */
  private static final Map<String, HazelcastTransport> LOCAL = new ConcurrentHashMap<>();

  /** How members find each other. */
  public sealed interface Join permits Join.TcpIp, Join.KubernetesDns, Join.KubernetesApi {
    /**
     * Members to contact, host:port: every one in rank order (the workers of a local run or a Spark
     * stage), or fewer (a coordinator that starts first names only itself; the others find it).
     */
    record TcpIp(List<String> members) implements Join {
    }

    /** Kubernetes, through the DNS of a headless Service (a StatefulSet's workers). */
    record KubernetesDns(String serviceDns) implements Join {
    }

    /** Kubernetes, through the API server (needs RBAC get/list on endpoints, pods, nodes, services). */
    record KubernetesApi(String namespace, String serviceName) implements Join {
    }
  }

  /**
   * How to start a rank's member.
   *
   * @param cluster the job's cluster name (members of other jobs are refused)
   * @param size the number of ranks of the job
   * @param bindInterface the interface to listen on (127.0.0.1 for local runs)
   * @param port this member's port
   * @param timeout how long to wait for the others to join, and how soon a silent member is removed
   * @param secret the job's secret, or null: with one, a member is given a rank only if it proves it
   *     knows the secret (an HMAC of the cluster, its rank and a nonce, as member attributes), and
   *     frames from any other member are refused
   */
  public record Settings(String cluster, int rank, int size, String bindInterface, int port, Join join,
      Duration timeout, String secret) {

    public Settings(String cluster, int rank, int size, String bindInterface, int port, Join join, Duration timeout) {
      this(cluster, rank, size, bindInterface, port, join, timeout, null);
    }

    /** The same settings with the job's secret. */
    public Settings withSecret(String s) {
      return new Settings(cluster, rank, size, bindInterface, port, join, timeout, s);
    }

    /** Every member on loopback at the given host:port list, in rank order. */
    public static Settings loopback(String cluster, int rank, List<String> members, Duration timeout) {
      if (rank < 0 || rank >= members.size()) {
        throw new IllegalArgumentException("rank " + rank + " outside a job of " + members.size() + " members");
      }
      return new Settings(cluster, rank, members.size(), "127.0.0.1",
          Integer.parseInt(members.get(rank).substring(members.get(rank).lastIndexOf(':') + 1)),
          new Join.TcpIp(members), timeout);
    }
  }

  private final HazelcastInstance hz;
  // hz is assigned in the constructor after this object is registered for incoming frames.
  private final OperationService operations;
  private final int rank;
  private final int size;
  private final Member[] byRank;
  private final Map<Address, Integer> rankOf = new ConcurrentHashMap<>();
  private final boolean[] lost;
  private final Traffic traffic = new Traffic();
  private final Mailboxes mailboxes;
  /** The job's secret, or null (then every member with a rank attribute is taken at its word). */
  private final String secret;
  private final String clusterName;
  /** This rank's posted frames: greetings, counts and the flush at close. */
  private final Posting posting;
  /** Members refused for want of the secret, by address (each reported once). */
  private final Map<Address, Boolean> refused = new ConcurrentHashMap<>();

  private HazelcastTransport(Config config, int rank, int size, String secret, Duration timeout) {
    this.secret = secret;
    this.clusterName = config.getClusterName();
    this.rank = rank;
    this.size = size;
    this.byRank = new Member[size];
    this.lost = new boolean[size];
    this.mailboxes = new Mailboxes(rank, traffic);
    this.posting = new Posting(rank, size, timeout, this::target);
    // Registered before the member starts: a peer may send as soon as this member has joined.
    LOCAL.put(config.getInstanceName(), this);
    try {
      this.hz = Hazelcast.newHazelcastInstance(config);
    } catch (RuntimeException e) {
      LOCAL.remove(config.getInstanceName());
      throw new CommException("rank " + rank + " could not start its Hazelcast member: " + e.getMessage(), e);
    }
    com.hazelcast.instance.impl.Node node = ((HazelcastInstanceProxy) hz).getOriginal().node;
    this.operations = node.getNodeEngine().getOperationService();
    posting.start(operations, FramePackets.ON ? FramePackets.of(node, rank) : null);
    hz.getCluster().addMembershipListener(new MembershipListener() {
      @Override
      public void memberAdded(MembershipEvent e) {
        index(e.getMember());
      }

      @Override
      public void memberRemoved(MembershipEvent e) {
        Integer r = rankOf(e.getMember());
        if (r != null) {
          lost[r] = true;
          if (leaving) {
            LOG.debug("rank {} ({}) left the cluster after the run", r, e.getMember().getAddress());
          } else {
            LOG.warn("rank {} ({}) left the cluster", r, e.getMember().getAddress());
          }
          mailboxes.peerLost(r, "left the cluster (" + e.getMember().getAddress() + ")");
        }
      }
    });
    for (Member m : hz.getCluster().getMembers()) {
      index(m);
    }
  }

  /**
   * Waits until every rank has joined, at most {@code timeout}; {@code check} runs between looks
   * (a launcher's test that its workers are still alive: what it throws ends the wait). On a
   * timeout this member leaves the cluster.
   */
  public HazelcastTransport awaitRanks(Duration timeout, Runnable check) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (missing().size() > 0) {
      if (System.nanoTime() > deadline) {
        close();
        throw new CommException.Timeout("rank " + rank + ": ranks " + missing() + " did not join cluster '"
            + clusterName + "' within " + timeout.toSeconds() + " s"
            + (refused.isEmpty() ? "" : "; refused for want of the job's secret: " + refused.keySet()));
      }
      check.run();
      sleep(20);
    }
    posting.greetAll();
    return this;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommException("interrupted while waiting for the cluster", e);
    }
  }

  private static Integer rankOf(Member m) {
    String a = m.getAttribute(RANK_ATTRIBUTE);
    return a == null ? null : Integer.valueOf(a);
  }

  private synchronized void index(Member m) {
    Integer r = rankOf(m);
    if (r == null || r < 0 || r >= size) {
      LOG.warn("member {} has no valid rank ({}={})", m.getAddress(), RANK_ATTRIBUTE, r);
      return;
    }
    if (secret != null && !MemberConfig.proves(m, r, secret, clusterName)) {
      unverified.remove(m.getAddress());
      if (refused.put(m.getAddress(), true) == null) {
        LOG.warn("member {} claims rank {} of cluster '{}' without the job's secret: refused", m.getAddress(), r,
            clusterName);
      }
      return;
    }
    byRank[r] = m;
    rankOf.put(m.getAddress(), r);
    List<byte[]> early = unverified.remove(m.getAddress());
    if (early != null) {
      early.forEach(f -> mailboxes.deliver(r, f));
    }
  }

  /**
   * Frames from members this one has not seen join yet, by address: a member that has joined may
   * send before the membership update reaches every other member. They are delivered once the
   * sender is verified, and dropped if it is refused. At most {@value #MAX_UNVERIFIED} per sender.
   */
  private final Map<Address, List<byte[]>> unverified = new ConcurrentHashMap<>();
  private static final int MAX_UNVERIFIED = 256;

  /** Whether posted frames are written straight into their packets ({@link FramePackets}). */
  boolean writesPacketsDirectly() {
    return posting.writesPacketsDirectly();
  }

  /** Members refused so far for want of the job's secret. */
  int refusedMembers() {
    return refused.size();
  }

  private synchronized List<Integer> missing() {
    List<Integer> out = new ArrayList<>();
    for (int r = 0; r < size; r++) {
      if (byRank[r] == null) {
        out.add(r);
      }
    }
    return out;
  }

  /** Starts this rank's member and waits (at most the settings' timeout) until every rank has joined. */
  public static HazelcastTransport start(Settings s) {
    return start(s, s.timeout());
  }

  /**
   * Starts this rank's member without waiting for the others ({@link #awaitRanks} does): a
   * coordinator starts first, so that workers whose member lists name it join its cluster.
   */
  public static HazelcastTransport open(Settings s) {
    return new HazelcastTransport(MemberConfig.of(s), s.rank(), s.size(), s.secret(), s.timeout());
  }

  /**
   * Starts this rank's member and waits at most {@code joinTimeout} until every rank has joined (JVMs
   * that start together may need longer to join than a member may stay silent once they have).
   */
  public static HazelcastTransport start(Settings s, Duration joinTimeout) {
    return open(s).awaitRanks(joinTimeout, () -> { });
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public CompletableFuture<Void> send(int destination, MessageKey key, byte codec, byte[] payload) {
    Member m = target(destination);
    if (m == null) {
      return gone(destination, key);
    }
    return invoke(m, destination, key, codec, Frames.encode(rank, destination, key, codec, payload), payload.length);
  }

  @Override
  public CompletableFuture<Void> post(int destination, MessageKey key, byte codec, byte[] payload) {
    Member m = target(destination);
    if (m == null) {
      return gone(destination, key);
    }
    Trace.mark(Trace.Stage.ENCODE, rank, destination, key, payload.length);
    return transmit(m, destination, key, codec, Frames.bytes(rank, destination, key, codec, payload), payload.length);
  }

  @Override
  public CompletableFuture<Void> postFloats(int destination, MessageKey key, float[] x, int off, int len) {
    Member m = target(destination);
    if (m == null) {
      return gone(destination, key);
    }
    Trace.mark(Trace.Stage.ENCODE, rank, destination, key, 4 * len);
    return transmit(m, destination, key, Codec.FP32, Frames.floats(rank, destination, key, x, off, len), 4 * len);
  }

  /** The member of a live destination rank, or null if it is gone. */
  private Member target(int destination) {
    if (destination < 0 || destination >= size) {
      throw new IllegalArgumentException("no rank " + destination + " in a job of " + size);
    }
    Member m = byRank[destination];
    return lost[destination] ? null : m;
  }

  private CompletableFuture<Void> gone(int destination, MessageKey key) {
    return CompletableFuture.failedFuture(new CommException.PeerLost("rank " + destination + " is gone (rank " + rank
        + " sending " + key + ")"));
  }

  private CompletableFuture<Void> invoke(Member m, int destination, MessageKey key, byte codec, byte[] frame,
      int payloadBytes) {
    traffic.sent(key.group(), codec, payloadBytes);
    CompletableFuture<Void> done = new CompletableFuture<>();
    operations.<Object>invokeOnTarget(SERVICE, new FrameOperation(rank, frame, true), m.getAddress())
        .whenComplete((r, err) -> {
          if (err == null) {
            done.complete(null);
          } else {
            done.completeExceptionally(new CommException.PeerLost("sending " + key + " to rank " + destination
                + " failed: " + err));
          }
        });
    return done;
  }

  private CompletableFuture<Void> transmit(Member m, int destination, MessageKey key, byte codec,
      Frames.Unwritten frame, int payloadBytes) {
    traffic.sent(key.group(), codec, payloadBytes);
    return posting.post(m, destination, key, frame);
  }

  @Override
  public Frame receive(int source, MessageKey key, Duration timeout) {
    return mailboxes.receive(source, key, timeout);
  }

  @Override
  public boolean isLost(int r) {
    return lost[r];
  }

  @Override
  public Traffic traffic() {
    return traffic;
  }

  /** The Hazelcast member of this rank (for the cluster's control plane). */
  public HazelcastInstance hazelcast() {
    return hz;
  }

  private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
  private volatile boolean leaving;

  @Override
  public void leaving() {
    leaving = true;
  }

  /** Leaves the cluster (once: a second close does nothing). */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    posting.flush(); // posted frames still queued here would be lost with the connections
    Trace.dump(rank);
    LOCAL.remove(hz.getName());
    mailboxes.close("shut down");
    hz.shutdown();
  }

  void arrived(Address from, int claimedSource, byte[] frame, int off, int len, boolean posted) {
    try {
      arrived(from, claimedSource, frame, off, len);
    } finally {
      if (posted) {
        posting.arrived(claimedSource);
      }
    }
  }

  private void arrived(Address from, int claimedSource, byte[] frame, int off, int len) {
    Integer r = from == null ? null : rankOf.get(from);
    if (secret != null && r == null && from != null) {
      synchronized (this) { // index() delivers what is parked here, under the same lock
        r = rankOf.get(from);
        if (r == null && !refused.containsKey(from)) {
          List<byte[]> early = unverified.computeIfAbsent(from, a -> new ArrayList<>());
          if (early.size() < MAX_UNVERIFIED) {
            early.add(java.util.Arrays.copyOfRange(frame, off, off + len));
            return;
          }
        }
      }
      if (r == null) {
        if (refused.put(from, true) == null) {
          LOG.warn("a frame from {} (claiming rank {}), not a member that proved the job's secret: refused", from,
              claimedSource);
        }
        return;
      }
    }
    mailboxes.deliver(r != null ? r : claimedSource, frame, off, len);
  }

  /**
   * Operations find their transport by instance name; one that finds none is logged, never silent. The
   * frame is frame[off .. off + len).
   */
  static void arrivedAt(String instance, Address from, int claimedSource, byte[] frame, int off, int len,
      boolean posted) {
    HazelcastTransport t = LOCAL.get(instance);
    if (t == null) {
      LOG.error("a frame from rank {} ({}) reached member {}, which has no Tessera transport; dropped",
          claimedSource, from, instance);
      return;
    }
    t.arrived(from, claimedSource, frame, off, len, posted);
  }

  /**
   * A frame on its way to its destination member; runs there and hands the bytes to the mailboxes,
   * then confirms it, or not for a posted frame.
   */
  public static final class FrameOperation extends Operation {
    /** Sets the frame to bytes[off .. off + len) (read in place, {@link FramePackets#readInPlace}). */
    void frameAt(byte[] bytes, int off, int len) {
      this.frame = bytes;
      this.offset = off;
      this.length = len;
    }

    private int source;
    private boolean confirmed;
    /** The frame is frame[offset .. offset + length): read in place from the packet's bytes, or a copy. */
    private byte[] frame;
    private int offset;
    private int length;

    public FrameOperation() {
    }

    FrameOperation(int source, byte[] frame, boolean confirmed) {
      this.source = source;
      this.frame = frame;
      this.length = frame.length;
      this.confirmed = confirmed;
    }

    @Override
    public boolean returnsResponse() {
      return confirmed;
    }

    @Override
    public void run() {
      arrivedAt(getNodeEngine().getHazelcastInstance().getName(), getCallerAddress(), source, frame, offset, length,
          !confirmed);
    }

    /** The frame's bytes (a copy). */
    byte[] frame() {
      return java.util.Arrays.copyOfRange(frame, offset, offset + length);
    }

    @Override
    protected void writeInternal(ObjectDataOutput out) throws IOException {
      out.writeInt(source);
      out.writeBoolean(confirmed);
      out.writeInt(length);
      out.write(frame, offset, length); // as writeByteArray writes it
    }

    @Override
    protected void readInternal(ObjectDataInput in) throws IOException {
      long t = Trace.ON ? System.nanoTime() : 0;
      source = in.readInt();
      confirmed = in.readBoolean();
      if (!FramePackets.readInPlace(in, this)) {
        frame = in.readByteArray();
        offset = 0;
        length = frame == null ? 0 : frame.length;
      }
      Trace.mark(Trace.Stage.READ, t, frame, offset);
    }
  }

  /**
   * Answers how many posted frames from {@code source} have arrived at this member (-1 if it has no
   * transport): {@link Posting}'s greeting and flush.
   */
  public static final class FlushOperation extends Operation {
    private int source;
    private long arrived;

    public FlushOperation() {
    }

    FlushOperation(int source) {
      this.source = source;
    }

    @Override
    public void run() {
      HazelcastTransport t = LOCAL.get(getNodeEngine().getHazelcastInstance().getName());
      arrived = t == null ? -1 : t.posting.arrivedFrom(source);
    }

    @Override
    public Object getResponse() {
      return arrived;
    }

    @Override
    protected void writeInternal(ObjectDataOutput out) throws IOException {
      out.writeInt(source);
    }

    @Override
    protected void readInternal(ObjectDataInput in) throws IOException {
      source = in.readInt();
    }
  }
}
