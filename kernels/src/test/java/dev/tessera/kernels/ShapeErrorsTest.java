package dev.tessera.kernels;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tessera.kernels.reference.ReferenceBackend;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Bad shapes, types and owners fail with a message naming the op and the shapes, on every backend. */
class ShapeErrorsTest {

  static Stream<Backend> backends() {
    return Stream.of(new ReferenceBackend(), TestBackends.openCl());
  }

  private static void assertRejects(Executable call, String... fragments) {
    ShapeException e = assertThrows(ShapeException.class, call);
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), () -> "message '" + e.getMessage() + "' lacks '" + f + "'");
    }
  }

  @ParameterizedTest
  @MethodSource("backends")
  void matmulInnerDimensionsMustAgree(Backend b) {
    Tensor a = b.zeros(4, 3);
    Tensor w = b.zeros(5, 2);
    assertRejects(() -> b.matmul(b.zeros(4, 2), a, w, false, false), "matmul", "[4, 3]", "[5, 2]", "inner");
    assertRejects(() -> b.matmul(b.zeros(4, 5), a, w, false, false), "matmul");
    assertRejects(() -> b.matmul(b.zeros(3, 3), a, b.zeros(3, 3), false, false), "matmul", "out must be [4, 3]");
  }

  @ParameterizedTest
  @MethodSource("backends")
  void elementwiseShapesMustMatch(Backend b) {
    assertRejects(() -> b.add(b.zeros(2, 3), b.zeros(2, 3), b.zeros(3, 2)), "add", "[2, 3]", "[3, 2]");
    assertRejects(() -> b.gelu(b.zeros(4), b.zeros(5)), "gelu");
    assertRejects(() -> b.addBias(b.zeros(2, 3), b.zeros(2, 3), b.zeros(2)), "addBias", "bias must be [3]");
  }

  @ParameterizedTest
  @MethodSource("backends")
  void normsAttentionEmbeddingAndLossCheckTheirShapes(Backend b) {
    assertRejects(() -> b.layerNorm(b.zeros(2, 8), b.zeros(2), b.zeros(2), b.zeros(2, 8), b.zeros(7), null, 1e-5f),
        "layerNorm", "weight must be [8]");
    assertRejects(() -> b.attention(b.zeros(1, 4, 8), b.zeros(1, 1, 4), b.zeros(1, 4, 8), b.zeros(1, 4, 8),
        b.zeros(1, 4, 8)), "attention", "[B, T, H, D]");
    assertRejects(() -> b.embedding(b.zeros(3, 4), b.zeros(10, 4), b.zeros(3)), "embedding", "ids must be i32");
    Tensor targets = b.fromInts(new int[] {1, 2}, 2);
    assertRejects(() -> b.crossEntropy(b.zeros(3), b.zeros(3), b.zeros(3, 5), targets), "crossEntropy",
        "targets");
    assertRejects(() -> b.adamw(b.zeros(2), b.zeros(2), b.zeros(2), b.zeros(2), 1e-3f, 0.9f, 0.99f, 1e-8f, 0f, 0),
        "adamw", "step");
  }

  @Test
  void tensorsBelongToTheirBackend() {
    Backend one = new ReferenceBackend();
    Backend other = new ReferenceBackend();
    assertRejects(() -> one.gelu(one.zeros(2), other.zeros(2)), "gelu", "another backend");
    Tensor closed = one.zeros(2);
    closed.close();
    assertRejects(() -> one.gelu(one.zeros(2), closed), "gelu", "closed");
    assertRejects(() -> one.write(one.zeros(3), new float[4]), "write", "4 floats");
  }

  @Test
  void referenceRejectsTokenIdsOutsideTheVocabulary() {
    Backend b = new ReferenceBackend();
    Tensor ids = b.fromInts(new int[] {0, 12}, 2);
    assertRejects(() -> b.embedding(b.zeros(2, 4), b.zeros(10, 4), ids), "embedding", "12", "[0, 10)");
  }
}
