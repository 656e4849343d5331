package dev.tessera.coordinator.run;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** Free TCP ports for the members of a job (the coordinator's, local workers', Spark tasks'). */
public final class Ports {
  private static final org.apache.logging.log4j.Logger LOG = org.apache.logging.log4j.LogManager.getLogger(Ports.class);

  private Ports() {
  }

  /** Ports tried first: below Linux's ephemeral range (32768-60999), which outgoing connections draw from. */
  public static final int FIRST_PORT = 20_000;
  public static final int END_PORT = 32_768;

  /**
   * {@code n} free TCP ports on {@code bind} (held open together, so they differ), chosen at random
   * below the ephemeral range: a port the system hands out for listening (port 0) may be taken as the
   * source port of some other process's connection before a member binds it, which made a launch
   * fail with "Port ... is already in use" while Spark's JVMs of an earlier test were closing theirs.
   */
  public static List<Integer> free(String bind, int n) {
    List<ServerSocket> held = new ArrayList<>();
    java.util.Random random = new java.util.Random();
    try {
      InetAddress address = InetAddress.getByName(bind);
      List<Integer> ports = new ArrayList<>();
      for (int tries = 0; ports.size() < n && tries < 50 * n; tries++) {
        int port = FIRST_PORT + random.nextInt(END_PORT - FIRST_PORT);
        try {
          ServerSocket s = probe(address, port);
          held.add(s);
          ports.add(port);
        } catch (java.net.BindException taken) {
          // in use: try another
        }
      }
      while (ports.size() < n) { // that range is full: let the system choose
        ServerSocket s = probe(address, 0);
        held.add(s);
        ports.add(s.getLocalPort());
      }
      return ports;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot listen on " + bind + " (--bind): " + e.getMessage(), e);
    } finally {
      for (ServerSocket s : held) {
        try {
          s.close();
        } catch (IOException e) {
          LOG.debug("closing a probe socket: {}", e.toString());
        }
      }
    }
  }

  /** A socket listening on the port, bound as Hazelcast binds (no SO_REUSEADDR), or a BindException. */
  private static ServerSocket probe(InetAddress address, int port) throws IOException {
    ServerSocket s = new ServerSocket();
    try {
      s.setReuseAddress(false);
      s.bind(new java.net.InetSocketAddress(address, port), 1);
      return s;
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }
}
