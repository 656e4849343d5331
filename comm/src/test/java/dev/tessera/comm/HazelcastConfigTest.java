package dev.tessera.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The member configuration each way of joining produces (no Kubernetes API server runs here). */
class HazelcastConfigTest {
  private static final Duration T = Duration.ofSeconds(15);

  @Test
  void loopbackJoinsByAnExplicitListWithTunedTimeouts() {
    Config c = MemberConfig.of(HazelcastTransport.Settings.loopback("job-a", 1,
        List.of("127.0.0.1:5801", "127.0.0.1:5802"), T));
    assertEquals("job-a", c.getClusterName());
    assertEquals("1", c.getMemberAttributeConfig().getAttributes().get(HazelcastTransport.RANK_ATTRIBUTE));
    assertEquals(5802, c.getNetworkConfig().getPort());
    JoinConfig j = c.getNetworkConfig().getJoin();
    assertTrue(j.getTcpIpConfig().isEnabled());
    assertFalse(j.getMulticastConfig().isEnabled());
    assertFalse(j.getKubernetesConfig().isEnabled());
    assertEquals(List.of("127.0.0.1:5801", "127.0.0.1:5802"), j.getTcpIpConfig().getMembers());
    assertEquals("15", c.getProperty("hazelcast.max.no.heartbeat.seconds"));
    assertEquals("15000", c.getProperty("hazelcast.operation.call.timeout.millis"));
    assertEquals("true", c.getProperty("hazelcast.socket.buffer.direct"));
    assertEquals("1024", c.getProperty("hazelcast.socket.receive.buffer.size"));
  }

  /** A socket setting given as a system property is left to it (Hazelcast reads it there), not overridden. */
  @Test
  void aSocketSettingGivenAsASystemPropertyIsNotOverridden() {
    String name = "hazelcast.socket.send.buffer.size";
    System.setProperty(name, "256");
    try {
      Config c = MemberConfig.of(HazelcastTransport.Settings.loopback("job-a", 0, List.of("127.0.0.1:5801"), T));
      assertEquals("256", c.getProperty(name)); // the system property's, not the default
      assertEquals("1024", c.getProperty("hazelcast.socket.receive.buffer.size"));
    } finally {
      System.clearProperty(name);
    }
  }

  @Test
  void kubernetesJoinsThroughDnsOrTheApi() {
    Config dns = MemberConfig.of(new HazelcastTransport.Settings("job-b", 0, 4, null, 5701,
        new HazelcastTransport.Join.KubernetesDns("tessera-workers.ml.svc.cluster.local"), T));
    JoinConfig j = dns.getNetworkConfig().getJoin();
    assertTrue(j.getKubernetesConfig().isEnabled());
    assertFalse(j.getTcpIpConfig().isEnabled());
    assertEquals("tessera-workers.ml.svc.cluster.local", j.getKubernetesConfig().getProperty("service-dns"));
    Config api = MemberConfig.of(new HazelcastTransport.Settings("job-b", 3, 4, null, 5701,
        new HazelcastTransport.Join.KubernetesApi("ml", "tessera-workers"), T));
    assertEquals("ml", api.getNetworkConfig().getJoin().getKubernetesConfig().getProperty("namespace"));
    assertEquals("tessera-workers", api.getNetworkConfig().getJoin().getKubernetesConfig().getProperty("service-name"));
  }

  /** A seed list may name fewer members than the job has (a coordinator starts knowing only itself). */
  @Test
  void anEmptyMemberListOrARankOutsideTheJobIsAnErrorButAPartialSeedListIsNot() {
    assertThrows(IllegalArgumentException.class, () -> MemberConfig.of(new HazelcastTransport.Settings(
        "j", 0, 3, "127.0.0.1", 5701, new HazelcastTransport.Join.TcpIp(List.of()), T)));
    assertThrows(IllegalArgumentException.class, () -> MemberConfig.of(
        HazelcastTransport.Settings.loopback("j", 2, List.of("127.0.0.1:1", "127.0.0.1:2"), T)));
    Config seed = MemberConfig.of(new HazelcastTransport.Settings("j", 2, 3, "127.0.0.1", 5701,
        new HazelcastTransport.Join.TcpIp(List.of("127.0.0.1:5701")), T));
    assertEquals(List.of("127.0.0.1:5701"), seed.getNetworkConfig().getJoin().getTcpIpConfig().getMembers());
  }
}
