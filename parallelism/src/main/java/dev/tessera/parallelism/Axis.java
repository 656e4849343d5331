package dev.tessera.parallelism;

/**
 * The axes of the device mesh, fastest-varying first in rank order: ranks next to each other share
 * a tensor-parallel group (the chattiest, kept on the closest links), then context, expert, data and
 * pipeline parallel groups.
 */
public enum Axis {
  TP("tp", "tensor"),
  CP("cp", "context"),
  EP("ep", "expert"),
  DP("dp", "data"),
  PP("pp", "pipeline");

  private final String flag;
  private final String word;

  Axis(String flag, String word) {
    this.flag = flag;
    this.word = word;
  }

  /** The option name, e.g. "tp". */
  public String flag() {
    return flag;
  }

  /** The word, e.g. "tensor". */
  public String word() {
    return word;
  }
}
