package dev.tessera.comm;

import com.hazelcast.cluster.Member;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import dev.tessera.comm.HazelcastTransport.Settings;

/**
 * A rank's Hazelcast member configuration ({@link #of}), and the proof that a member knows the
 * job's secret: a random nonce and HMAC-SHA256(secret, "cluster|rank|nonce") as member attributes,
 * which every other member checks before it gives that member a rank ({@link #proves}).
 */
final class MemberConfig {
  static final String NONCE_ATTRIBUTE = "tessera.nonce";
  static final String AUTH_ATTRIBUTE = "tessera.auth";

  private MemberConfig() {
  }

  /** The member configuration for these settings (heartbeats and timeouts tuned to the timeout). */
  static Config of(Settings s) {
    if (s.rank() < 0 || s.rank() >= s.size()) {
      throw new IllegalArgumentException("rank " + s.rank() + " outside a job of " + s.size());
    }
    Config c = new Config();
    // Operations are this module's classes: under Spark, Hazelcast may come from a parent class loader.
    c.setClassLoader(HazelcastTransport.class.getClassLoader());
    c.setClusterName(s.cluster());
    c.setInstanceName(s.cluster() + "-rank-" + s.rank() + "-port-" + s.port()); // unique in a JVM, even for an impostor
    c.getMemberAttributeConfig().setAttribute(HazelcastTransport.RANK_ATTRIBUTE, Integer.toString(s.rank()));
    if (s.secret() != null) {
      byte[] nonce = new byte[16];
      new java.security.SecureRandom().nextBytes(nonce);
      String n = java.util.HexFormat.of().formatHex(nonce);
      c.getMemberAttributeConfig().setAttribute(NONCE_ATTRIBUTE, n);
      c.getMemberAttributeConfig().setAttribute(AUTH_ATTRIBUTE, proof(s.secret(), s.cluster(), s.rank(), n));
    }
    NetworkConfig n = c.getNetworkConfig();
    n.setPort(s.port()).setPortAutoIncrement(false);
    if (s.bindInterface() != null) {
      n.getInterfaces().setEnabled(true).addInterface(s.bindInterface());
    }
    JoinConfig j = n.getJoin();
    j.getMulticastConfig().setEnabled(false);
    j.getAutoDetectionConfig().setEnabled(false);
    if (s.join() instanceof HazelcastTransport.Join.TcpIp t) {
      if (t.members().isEmpty()) {
        throw new IllegalArgumentException("no member address to join (a job of " + s.size() + ")");
      }
      j.getTcpIpConfig().setEnabled(true).setMembers(t.members());
    } else if (s.join() instanceof HazelcastTransport.Join.KubernetesDns k) {
      j.getKubernetesConfig().setEnabled(true).setProperty("service-dns", k.serviceDns());
    } else if (s.join() instanceof HazelcastTransport.Join.KubernetesApi k) {
      j.getKubernetesConfig().setEnabled(true).setProperty("namespace", k.namespace())
          .setProperty("service-name", k.serviceName());
    }
    long seconds = Math.max(2, s.timeout().toSeconds());
    c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    c.setProperty("hazelcast.max.no.heartbeat.seconds", Long.toString(seconds));
    c.setProperty("hazelcast.operation.call.timeout.millis", Long.toString(s.timeout().toMillis()));
    c.setProperty("hazelcast.phone.home.enabled", "false");
    c.setProperty("hazelcast.logging.type", "log4j2");
    c.setProperty("hazelcast.shutdownhook.enabled", "false");
    // Members hold no data: leaving need not wait for partitions to migrate (which, with every member
    // of a failed attempt leaving at once, took a minute).
    c.setProperty("hazelcast.graceful.shutdown.max.wait", "5");
    SOCKET_DEFAULTS.forEach((name, value) -> {
      if (System.getProperty(name) == null) { // a -D of the same name wins (for A/B runs)
        c.setProperty(name, value);
      }
    });
    return c;
  }

  /**
   * Socket settings for 512 KiB frames: direct socket buffers of 1 MiB (Hazelcast's own buffers and the
   * sockets'), so that a frame goes out in one write, without the JDK's copy of a heap buffer into a
   * temporary direct one. On the 16-core H200 host, once frames were written into their packets
   * (2026-12-02, sixth session), a 16 MiB all-reduce was faster in 13 of 14 A/B pairs (8 processes
   * 1.1-1.5x), the other sizes within the noise (docs/comm.md). Hazelcast's defaults: heap buffers of
   * 128 KiB.
   */
  static final java.util.Map<String, String> SOCKET_DEFAULTS = java.util.Map.of(
      "hazelcast.socket.buffer.direct", "true",
      "hazelcast.socket.receive.buffer.size", "1024",
      "hazelcast.socket.send.buffer.size", "1024");

  /** Whether member m's attributes prove it knows the job's secret for rank r. */
  static boolean proves(Member m, int r, String secret, String clusterName) {
    String nonce = m.getAttribute(NONCE_ATTRIBUTE);
    String auth = m.getAttribute(AUTH_ATTRIBUTE);
    if (nonce == null || auth == null) {
      return false;
    }
    return java.security.MessageDigest.isEqual(auth.getBytes(java.nio.charset.StandardCharsets.US_ASCII),
        proof(secret, clusterName, r, nonce).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
  }

  /** HMAC-SHA256 of "cluster|rank|nonce" under the secret, in hex. */
  static String proof(String secret, String cluster, int rank, String nonce) {
    try {
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
      mac.init(new javax.crypto.spec.SecretKeySpec(secret.getBytes(java.nio.charset.StandardCharsets.UTF_8),
          "HmacSHA256"));
      return java.util.HexFormat.of().formatHex(mac.doFinal((cluster + "|" + rank + "|" + nonce)
          .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available", e);
    }
  }
}
