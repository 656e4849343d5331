package dev.tessera.kernels;

import java.util.Locale;

/** Where ops run. {@link #AUTO} tries GPU OpenCL, then CPU OpenCL, then the Java thread pool. */
public enum DeviceKind {
  AUTO("auto", "the best available: gpu, then cpu, then java"),
  GPU("gpu", "an OpenCL GPU device"),
  CPU("cpu", "an OpenCL CPU device (pocl on Debian)"),
  JAVA("java", "a Java thread pool, no OpenCL"),
  REFERENCE("reference", "plain single-threaded loops: the test oracle");

  private final String id;
  private final String meaning;

  DeviceKind(String id, String meaning) {
    this.id = id;
    this.meaning = meaning;
  }

  public String id() {
    return id;
  }

  public String meaning() {
    return meaning;
  }

  public boolean isOpenCl() {
    return this == GPU || this == CPU;
  }

  public static DeviceKind parse(String s) {
    String key = s.trim().toLowerCase(Locale.ROOT);
    for (DeviceKind k : values()) {
      if (k.id.equals(key)) {
        return k;
      }
    }
    StringBuilder known = new StringBuilder();
    for (DeviceKind k : values()) {
      known.append(known.length() == 0 ? "" : ", ").append(k.id);
    }
    throw new IllegalArgumentException("unknown device '" + s + "'; expected one of " + known);
  }
}
