package dev.tessera.comm;

/** A communication failure; the message names the peer, group and tag concerned. */
public class CommException extends RuntimeException {
  public CommException(String message) {
    super(message);
  }

  public CommException(String message, Throwable cause) {
    super(message, cause);
  }

  /** A peer left the group or stopped answering: every pending operation with it fails. */
  public static final class PeerLost extends CommException {
    public PeerLost(String message) {
      super(message);
    }
  }

  /** Nothing arrived within the timeout. */
  public static final class Timeout extends CommException {
    public Timeout(String message) {
      super(message);
    }
  }

  /** A frame that is corrupt, truncated, oversized or of an unknown version or codec. */
  public static final class BadFrame extends CommException {
    private final transient MessageKey key;

    public BadFrame(String message) {
      this(message, (MessageKey) null);
    }

    /** A bad frame whose header could be read: {@code key} says which receive it was for. */
    public BadFrame(String message, MessageKey key) {
      super(message);
      this.key = key;
    }

    public BadFrame(String message, Throwable cause) {
      super(message, cause);
      this.key = null;
    }

    /** The key of the frame, or null when the header itself was unreadable. */
    public MessageKey key() {
      return key;
    }
  }
}
