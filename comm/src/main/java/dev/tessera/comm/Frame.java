package dev.tessera.comm;

/** A decoded, verified frame: its header and payload bytes. */
public record Frame(FrameHeader header, byte[] payload) {
}
