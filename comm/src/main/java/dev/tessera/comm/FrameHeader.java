package dev.tessera.comm;

/**
 * Header of a frame on the wire (see {@link Frames}): format version, source and destination
 * ranks, the {@link MessageKey}, the codec of the payload, the payload length in bytes and the
 * CRC32C of header and payload.
 */
public record FrameHeader(int version, int source, int destination, int group, long tag, long step, byte codec,
    int length, int crc) {

  public MessageKey key() {
    return new MessageKey(group, tag, step);
  }
}
