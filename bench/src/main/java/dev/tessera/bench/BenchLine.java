package dev.tessera.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** The result of one benchmark: printed as {@code BENCH name k=v ...} and written as JSON. */
final class BenchLine {
  private final String name;
  private final Map<String, Object> values = new LinkedHashMap<>();

  BenchLine(String name) {
    this.name = name;
  }

  BenchLine put(String key, Object value) {
    if (value instanceof Double d) {
      value = Double.parseDouble(String.format(Locale.ROOT, "%.4g", d));
    }
    values.put(key, value);
    return this;
  }

  /** Prints the line and writes target/bench/NAME.json under the working directory. */
  void emit() {
    StringBuilder line = new StringBuilder("BENCH ").append(name);
    values.forEach((k, v) -> line.append(' ').append(k).append('=').append(String.valueOf(v).replace(' ', '_')));
    Path dir = Path.of("target", "bench");
    try {
      Files.createDirectories(dir);
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("bench", name);
      json.putAll(values);
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(dir.resolve(name + ".json").toFile(), json);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + dir.resolve(name + ".json"), e);
    }
    System.out.println(line);
  }
}
