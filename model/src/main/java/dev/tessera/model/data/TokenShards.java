package dev.tessera.model.data;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The token-shard format that Spark jobs write and {@link ShardSource} reads: a directory with
 * {@value #INDEX} and shard files. A shard is an 8-byte header (magic "TSTK", format version,
 * bytes per token), the tokens little-endian (unsigned 16-bit for vocabularies up to 65,536, else
 * 32-bit), and a 12-byte footer (the token count, then the magic again), so a truncated shard is
 * recognised without an index. The files concatenated are the corpus's token stream; the index lists the files (token count, SHA-256) and the ranges of them that make
 * the training and validation tokens, so one pass over the corpus can write them.
 */
public final class TokenShards {
  public static final String INDEX = "index.json";
  public static final String FORMAT = "tessera-tokens";
  public static final int VERSION = 1;
  static final int MAGIC = 0x4B545354; // "TSTK" read as a little-endian int
  static final int HEADER = 8;
  static final int FOOTER = 12;
  /** Largest shard file: one memory map. */
  public static final long MAX_SHARD_BYTES = Integer.MAX_VALUE;

  static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private TokenShards() {
  }

  /** One shard file: its name in the directory, its tokens and its SHA-256. */
  public record ShardFile(String file, long tokens, String sha256) implements java.io.Serializable {
  }

  /** Tokens [offset, offset + tokens) of a shard file. */
  public record Range(String file, long offset, long tokens) {
  }

  /**
   * index.json: the files, and the ranges of them that make the training and the validation tokens
   * (each list in corpus order).
   *
   * @param documents how many documents the corpus had
   * @param source where it came from, in words
   */
  public record Index(String format, int version, List<String> tokenizer, int bytesPerToken, long documents,
      String source, List<ShardFile> files, List<Range> train, List<Range> val) {
  }

  /**
   * The index of {@code files} (in corpus order) split like {@link TextSource}: the first
   * (1 - valFraction) of the tokens for training, the rest for validation.
   */
  public static Index split(List<String> tokenizer, int bytesPerToken, long documents, String source,
      List<ShardFile> files, double valFraction) {
    long total = files.stream().mapToLong(ShardFile::tokens).sum();
    long split = (long) (total * (1 - valFraction));
    List<Range> train = new java.util.ArrayList<>();
    List<Range> val = new java.util.ArrayList<>();
    long at = 0;
    for (ShardFile f : files) {
      long before = Math.max(0, Math.min(f.tokens(), split - at));
      if (before > 0) {
        train.add(new Range(f.file(), 0, before));
      }
      if (f.tokens() - before > 0) {
        val.add(new Range(f.file(), before, f.tokens() - before));
      }
      at += f.tokens();
    }
    return new Index(FORMAT, VERSION, tokenizer, bytesPerToken, documents, source, List.copyOf(files), train, val);
  }

  /** Bytes per token for a vocabulary: 2 up to 65,536 tokens, else 4. */
  public static int width(int vocab) {
    return vocab <= 1 << 16 ? 2 : 4;
  }

  /** Writes index.json's bytes. */
  public static byte[] indexBytes(Index index) throws IOException {
    return JSON.writeValueAsBytes(index);
  }

  /**
   * Writes one shard to a stream (a local file or a Hadoop one) as tokens come: {@link #append},
   * then {@link #finish}, which writes the footer and returns the shard's entry.
   */
  public static final class Writer {
    private final DigestOutputStream out;
    private final String file;
    private final int width;
    private long tokens;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

    public Writer(OutputStream out, String file, int width) throws IOException {
      if (width != 2 && width != 4) {
        throw new IllegalArgumentException("bytes per token must be 2 or 4, got " + width);
      }
      try {
        this.out = new DigestOutputStream(out, MessageDigest.getInstance("SHA-256"));
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("the JDK has no SHA-256", e);
      }
      this.file = file;
      this.width = width;
      ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
      h.putInt(MAGIC).putShort((short) VERSION).putShort((short) width);
      this.out.write(h.array());
    }

    /** Appends tokens (each must fit the width). */
    public void append(int[] ids) throws IOException {
      for (int id : ids) {
        if (buf.remaining() < width) {
          flush();
        }
        if (width == 2) {
          if (id < 0 || id > 0xFFFF) {
            throw new IllegalArgumentException("token " + id + " does not fit 16 bits");
          }
          buf.putShort((short) id);
        } else {
          buf.putInt(id);
        }
      }
      tokens += ids.length;
      if ((tokens * width) > MAX_SHARD_BYTES - HEADER - FOOTER) {
        throw new IllegalArgumentException("shard " + file + " would exceed " + MAX_SHARD_BYTES + " bytes; write "
            + "more, smaller shards");
      }
    }

    private void flush() throws IOException {
      out.write(buf.array(), 0, buf.position());
      buf.clear();
    }

    public long tokens() {
      return tokens;
    }

    /** Writes the footer and closes the stream. */
    public ShardFile finish() throws IOException {
      flush();
      ByteBuffer f = ByteBuffer.allocate(FOOTER).order(ByteOrder.LITTLE_ENDIAN);
      f.putLong(tokens).putInt(MAGIC);
      out.write(f.array());
      out.close();
      return new ShardFile(file, tokens, HexFormat.of().formatHex(out.getMessageDigest().digest()));
    }
  }
}
