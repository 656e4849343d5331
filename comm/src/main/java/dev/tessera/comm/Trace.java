package dev.tessera.comm;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Timestamps of every frame's stages, for finding where a collective's time goes
 * ({@code -Dtessera.comm.trace=DIR}; off by default, and then each mark is one test of a constant).
 * The marks are {@link System#nanoTime}, which on Linux is one clock for every process of a host, so
 * a frame's sender and receiver marks subtract; {@code tools/comm-trace.py} reads the files that
 * each rank writes at close ({@code DIR/rank-N.tsv}) and prints the median time between stages.
 */
public final class Trace {
  /** System property naming the folder for the trace files. */
  public static final String PROPERTY = "tessera.comm.trace";
  static final boolean ON = System.getProperty(PROPERTY) != null;

  /** A frame's stages, in the order they happen. */
  enum Stage {
    /** The collective hands the chunk over (to a codec thread, or posts it itself). */
    SUBMIT,
    /** The transport is given the frame, on the thread that posts it. */
    ENCODE,
    /** The frame's packet is being written (encoded into it, or its operation serialised by Hazelcast). */
    SERIALISE,
    /** Hazelcast has taken the packet (written, or queued for its IO thread). */
    HANDED,
    /** The destination's operation thread starts reading the operation. */
    READ,
    /** The frame is verified and in its mailbox. */
    DELIVERED,
    /** The collective starts waiting for the frame. */
    WAIT,
    /** The collective has the frame. */
    RECEIVED,
    /** Its floats are copied or added into the collective's array. */
    ADDED
  }

  private static final int CAPACITY = ON ? 1 << 20 : 0;
  private static final AtomicInteger NEXT = new AtomicInteger();
  private static final long[] TIME = new long[CAPACITY];
  private static final byte[] STAGE = new byte[CAPACITY];
  private static final int[] SOURCE = new int[CAPACITY];
  private static final int[] DESTINATION = new int[CAPACITY];
  private static final int[] GROUP = new int[CAPACITY];
  private static final long[] TAG = new long[CAPACITY];
  private static final long[] STEP = new long[CAPACITY];
  private static final int[] BYTES = new int[CAPACITY];

  private Trace() {
  }

  static void mark(Stage stage, int source, int destination, MessageKey key, int bytes) {
    if (ON) {
      put(stage, System.nanoTime(), source, destination, key.group(), key.tag(), key.step(), bytes);
    }
  }

  /** Marks a frame's stage that began at {@code t}, from its bytes (the header is read again: tracing only). */
  static void mark(Stage stage, long t, byte[] frame, int off) {
    if (!ON) {
      return;
    }
    try {
      FrameHeader h = Frames.readHeader(frame, off, "trace");
      put(stage, t, h.source(), h.destination(), h.group(), h.tag(), h.step(), h.length());
    } catch (RuntimeException e) {
      // not a readable frame: the receive reports it, tracing must not
    }
  }

  private static void put(Stage stage, long t, int source, int destination, int group, long tag, long step,
      int bytes) {
    int i = NEXT.getAndIncrement();
    if (i >= CAPACITY) {
      return; // full: the first CAPACITY marks are kept
    }
    TIME[i] = t;
    SOURCE[i] = source;
    DESTINATION[i] = destination;
    GROUP[i] = group;
    TAG[i] = tag;
    STEP[i] = step;
    BYTES[i] = bytes;
    STAGE[i] = (byte) (stage.ordinal() + 1); // last: 0 is a slot not written yet
  }

  /** Whether a stage is marked by a frame's sender (else by its receiver). */
  private static boolean senders(Stage s) {
    return s.ordinal() <= Stage.HANDED.ordinal();
  }

  /**
   * Writes rank {@code rank}'s marks (as the sender of a frame, or its receiver) to {@code
   * DIR/rank-N.tsv}; called when its transport closes.
   */
  static void dump(int rank) {
    if (!ON) {
      return;
    }
    int n = Math.min(NEXT.get(), CAPACITY);
    Path file = Path.of(System.getProperty(PROPERTY), "rank-" + rank + ".tsv");
    try {
      Files.createDirectories(file.getParent());
      try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(file))) {
        out.println("stage\tnanos\tsource\tdestination\tgroup\ttag\tstep\tbytes");
        Stage[] stages = Stage.values();
        for (int i = 0; i < n; i++) {
          if (STAGE[i] == 0 || (senders(stages[STAGE[i] - 1]) ? SOURCE[i] : DESTINATION[i]) != rank) {
            continue; // not written yet, or another rank's of this JVM
          }
          out.println(stages[STAGE[i] - 1] + "\t" + TIME[i] + "\t" + SOURCE[i] + "\t" + DESTINATION[i] + "\t" + GROUP[i]
              + "\t" + TAG[i] + "\t" + STEP[i] + "\t" + BYTES[i]);
        }
      }
    } catch (IOException e) {
      org.apache.logging.log4j.LogManager.getLogger(Trace.class).warn("could not write the comm trace {}: {}", file,
          e.toString());
    }
  }
}
