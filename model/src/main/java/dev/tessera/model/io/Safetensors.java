package dev.tessera.model.io;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (as PyTorch and Hugging Face read it), fp32 only: an 8-byte little-endian
 * header length, a JSON header mapping each name to its dtype, shape and byte range, then the raw
 * little-endian data. {@code __metadata__} holds string pairs (Tessera puts its format version
 * there). Reading checks every range and length, so a truncated or corrupt file is an error
 * naming the file, never garbage.
 */
public final class Safetensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  private Safetensors() {
  }

  /** A named fp32 tensor on the host. */
  public record Entry(int[] shape, float[] data) {
  }

  public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
    Map<String, Object> header = new LinkedHashMap<>();
    if (!metadata.isEmpty()) {
      header.put("__metadata__", metadata);
    }
    long offset = 0;
    for (Map.Entry<String, Entry> e : tensors.entrySet()) {
      long bytes = 4L * e.getValue().data().length;
      Map<String, Object> info = new LinkedHashMap<>();
      info.put("dtype", "F32");
      info.put("shape", e.getValue().shape());
      info.put("data_offsets", new long[] {offset, offset + bytes});
      header.put(e.getKey(), info);
      offset += bytes;
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int pad = (8 - json.length % 8) % 8; // keep the data 8-byte aligned, padded with spaces as the spec allows
    byte[] padded = new byte[json.length + pad];
    System.arraycopy(json, 0, padded, 0, json.length);
    java.util.Arrays.fill(padded, json.length, padded.length, (byte) ' ');
    try (OutputStream out = Files.newOutputStream(file)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length);
      out.write(len.array());
      out.write(padded);
      for (Entry e : tensors.values()) {
        ByteBuffer buf = ByteBuffer.allocate(4 * e.data().length).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(e.data());
        out.write(buf.array());
      }
    }
  }

  /** Reads every tensor; throws IOException naming the file and the problem if it is malformed. */
  public static Map<String, Entry> read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new IOException(file + ": truncated safetensors file (" + size + " bytes)");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, file);
      long headerLen = lenBuf.flip().getLong();
      if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw new IOException(file + ": bad safetensors header length " + headerLen + " in a file of " + size
            + " bytes");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8, file);
      Map<String, Object> header;
      try {
        header = JSON.readValue(new String(hb.array(), StandardCharsets.UTF_8), new TypeReference<>() { });
      } catch (IOException e) {
        throw new IOException(file + ": safetensors header is not valid JSON: " + e.getMessage(), e);
      }
      long dataStart = 8 + headerLen;
      Map<String, Entry> out = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : header.entrySet()) {
        if (e.getKey().equals("__metadata__")) {
          continue;
        }
        out.put(e.getKey(), entry(ch, file, e.getKey(), e.getValue(), dataStart, size));
      }
      return out;
    }
  }

  /** The {@code __metadata__} pairs of a file. */
  public static Map<String, String> metadata(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, file);
      long headerLen = lenBuf.flip().getLong();
      if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > ch.size()) {
        throw new IOException(file + ": bad safetensors header length " + headerLen);
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8, file);
      Map<String, Object> header = JSON.readValue(new String(hb.array(), StandardCharsets.UTF_8),
          new TypeReference<>() { });
      Map<String, String> meta = new LinkedHashMap<>();
      if (header.get("__metadata__") instanceof Map<?, ?> m) {
        m.forEach((k, v) -> meta.put(String.valueOf(k), String.valueOf(v)));
      }
      return meta;
    }
  }

  private static Entry entry(FileChannel ch, Path file, String name, Object info, long dataStart, long size)
      throws IOException {
    if (!(info instanceof Map<?, ?> m) || !"F32".equals(m.get("dtype")) || !(m.get("shape") instanceof List<?> shp)
        || !(m.get("data_offsets") instanceof List<?> offs) || offs.size() != 2) {
      throw new IOException(file + ": tensor '" + name + "' has a malformed or non-F32 header entry: " + info);
    }
    List<Integer> dims = new ArrayList<>();
    long count = 1;
    for (Object d : shp) {
      int v = ((Number) d).intValue();
      if (v < 0) {
        throw new IOException(file + ": tensor '" + name + "' has a negative dimension");
      }
      dims.add(v);
      count *= v;
    }
    long begin = ((Number) offs.get(0)).longValue();
    long end = ((Number) offs.get(1)).longValue();
    if (begin < 0 || end < begin || end - begin != 4 * count || dataStart + end > size || count > Integer.MAX_VALUE) {
      throw new IOException(file + ": tensor '" + name + "' has byte range [" + begin + ", " + end + ") that does "
          + "not fit its shape " + dims + " or the file (" + size + " bytes): truncated or corrupt");
    }
    ByteBuffer buf = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, buf, dataStart + begin, file);
    float[] data = new float[(int) count];
    buf.flip().asFloatBuffer().get(data);
    return new Entry(dims.stream().mapToInt(Integer::intValue).toArray(), data);
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path file) throws IOException {
    long pos = position;
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos);
      if (n < 0) {
        throw new IOException(file + ": unexpected end of file at byte " + pos + " (truncated)");
      }
      pos += n;
    }
  }
}
