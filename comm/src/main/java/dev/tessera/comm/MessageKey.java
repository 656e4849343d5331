package dev.tessera.comm;

/**
 * What a frame is for: the group (one mesh axis, or a control channel), a tag within the group
 * (a collective's sequence number and chunk), and the training step. A receive matches all three,
 * so a frame of an earlier step never satisfies a later one.
 */
public record MessageKey(int group, long tag, long step) {
  @Override
  public String toString() {
    return "group " + group + " tag " + tag + " step " + step;
  }
}
