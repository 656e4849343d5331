package dev.tessera.kernels.check;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.DType;
import dev.tessera.kernels.Shape;
import dev.tessera.kernels.Tensor;

import static dev.tessera.kernels.check.OpCase.Input.constant;
import static dev.tessera.kernels.check.OpCase.Input.f32;
import static dev.tessera.kernels.check.OpCase.Input.ids;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every op of the Backend as a test case, on small shapes with ragged sizes to hit tile edges. */
public final class OpCases {
  private OpCases() {
  }

  private static Map<String, Tensor> map(Object... kv) {
    Map<String, Tensor> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], (Tensor) kv[i + 1]);
    }
    return m;
  }

  private static Tensor zerosLike(Backend b, Tensor t) {
    return b.allocate(DType.F32, t.shape());
  }

  /** C = op(A) op(B) with the given operand shapes as stored. */
  public static OpCase matmul(String name, int[] a, int[] b, int[] c, boolean ta, boolean tb) {
    return new OpCase(name, List.of(f32("a", -1, 1, a), f32("b", -1, 1, b)), List.of("c"),
        (be, in) -> {
          Tensor out = be.zeros(c);
          be.matmul(out, in.get("a"), in.get("b"), ta, tb);
          return map("c", out);
        },
        (be, in, fwd, d) -> {
          Tensor da = zerosLike(be, in.get("a"));
          Tensor db = zerosLike(be, in.get("b"));
          be.matmulBackward(da, db, d.get("c"), in.get("a"), in.get("b"), ta, tb);
          return map("a", da, "b", db);
        });
  }

  /** Causal attention on q, k, v [bs, t, h, dd]. */
  public static OpCase attention(String name, int bs, int t, int h, int dd) {
    return new OpCase(name, List.of(f32("q", -1, 1, bs, t, h, dd), f32("k", -1, 1, bs, t, h, dd),
        f32("v", -1, 1, bs, t, h, dd)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(bs, t, h, dd);
          Tensor lse = be.zeros(bs, h, t);
          be.attention(out, lse, in.get("q"), in.get("k"), in.get("v"));
          return map("out", out, "lse", lse);
        },
        (be, in, fwd, d) -> {
          Tensor dq = zerosLike(be, in.get("q"));
          Tensor dk = zerosLike(be, in.get("k"));
          Tensor dv = zerosLike(be, in.get("v"));
          be.attentionBackward(dq, dk, dv, d.get("out"), in.get("q"), in.get("k"), in.get("v"), fwd.get("out"),
              fwd.get("lse"));
          return map("q", dq, "k", dk, "v", dv);
        });
  }

  public static List<OpCase> all() {
    List<OpCase> cases = new ArrayList<>();
    int m = 70;
    int k = 33;
    int n = 130;
    cases.add(matmul("matmul NN 70x33x130", new int[] {m, k}, new int[] {k, n}, new int[] {m, n}, false, false));
    cases.add(matmul("matmul TN", new int[] {k, m}, new int[] {k, n}, new int[] {m, n}, true, false));
    cases.add(matmul("matmul NT", new int[] {m, k}, new int[] {n, k}, new int[] {m, n}, false, true));
    cases.add(matmul("matmul TT", new int[] {k, m}, new int[] {n, k}, new int[] {m, n}, true, true));
    cases.add(matmul("matmul batched 3x(9x20x17)", new int[] {3, 9, 20}, new int[] {3, 20, 17},
        new int[] {3, 9, 17}, false, false));
    cases.add(matmul("matmul batched NT", new int[] {2, 9, 20}, new int[] {2, 17, 20}, new int[] {2, 9, 17},
        false, true));
    cases.add(matmul("matmul folded linear [2,5,24]x[40,24]^T", new int[] {2, 5, 24}, new int[] {40, 24},
        new int[] {2, 5, 40}, false, true));
    cases.add(new OpCase("matmul alpha/beta accumulate", List.of(f32("a", -1, 1, 5, 7), f32("b", -1, 1, 7, 3),
        constant("c0", -1, 1, 5, 3)), List.of("c"),
        (be, in) -> {
          Tensor out = be.zeros(5, 3);
          be.copy(out, in.get("c0"));
          be.matmul(out, in.get("a"), in.get("b"), false, false, 0.5f, 2f);
          return map("c", out);
        }, null));

    cases.add(new OpCase("add", List.of(f32("a", -1, 1, 3, 5), f32("b", -1, 1, 3, 5)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(3, 5);
          be.add(out, in.get("a"), in.get("b"));
          return map("out", out);
        }, null));
    cases.add(new OpCase("addBias", List.of(f32("x", -1, 1, 4, 6, 7), f32("bias", -1, 1, 7)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(4, 6, 7);
          be.addBias(out, in.get("x"), in.get("bias"));
          return map("out", out);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          be.axpy(dx, 1f, d.get("out"));
          Tensor db = zerosLike(be, in.get("bias"));
          be.addBiasBackward(db, d.get("out"));
          return map("x", dx, "bias", db);
        }));
    cases.add(new OpCase("scale and axpy", List.of(f32("x", -1, 1, 1000), f32("y", -1, 1, 1000)), List.of("y"),
        (be, in) -> {
          Tensor y = be.zeros(1000);
          be.copy(y, in.get("y"));
          be.scale(y, 0.75f);
          be.axpy(y, -1.5f, in.get("x"));
          return map("y", y);
        }, null));
    cases.add(new OpCase("sum and sumSquares", List.of(f32("x", -1, 1, 3, 3001)), List.of("sum"),
        (be, in) -> {
          Tensor s = be.zeros(1);
          Tensor s2 = be.zeros(1);
          be.sum(s, in.get("x"));
          be.sumSquares(s2, in.get("x"));
          return map("sum", s, "sumSquares", s2);
        }, null));

    cases.add(new OpCase("layerNorm with bias", List.of(f32("x", -2, 2, 2, 65, 24), f32("w", 0.5f, 1.5f, 24),
        f32("bias", -1, 1, 24)), List.of("out"),
        (be, in) -> {
          // 130 rows: the parameter gradients are summed in chunks of rows, the last one short.
          Tensor out = be.zeros(2, 65, 24);
          Tensor mean = be.zeros(130);
          Tensor rstd = be.zeros(130);
          be.layerNorm(out, mean, rstd, in.get("x"), in.get("w"), in.get("bias"), 1e-5f);
          return map("out", out, "mean", mean, "rstd", rstd);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          Tensor dw = zerosLike(be, in.get("w"));
          Tensor db = zerosLike(be, in.get("bias"));
          be.layerNormBackward(dx, dw, db, d.get("out"), in.get("x"), in.get("w"), fwd.get("mean"), fwd.get("rstd"));
          return map("x", dx, "w", dw, "bias", db);
        }));
    cases.add(new OpCase("layerNorm without bias", List.of(f32("x", -2, 2, 7, 20), f32("w", 0.5f, 1.5f, 20)),
        List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(7, 20);
          Tensor mean = be.zeros(7);
          Tensor rstd = be.zeros(7);
          be.layerNorm(out, mean, rstd, in.get("x"), in.get("w"), null, 1e-5f);
          return map("out", out, "mean", mean, "rstd", rstd);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          Tensor dw = zerosLike(be, in.get("w"));
          be.layerNormBackward(dx, dw, null, d.get("out"), in.get("x"), in.get("w"), fwd.get("mean"), fwd.get("rstd"));
          return map("x", dx, "w", dw);
        }));
    cases.add(new OpCase("rmsNorm", List.of(f32("x", -2, 2, 6, 24), f32("w", 0.5f, 1.5f, 24)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(6, 24);
          Tensor rstd = be.zeros(6);
          be.rmsNorm(out, rstd, in.get("x"), in.get("w"), 1e-6f);
          return map("out", out, "rstd", rstd);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          Tensor dw = zerosLike(be, in.get("w"));
          be.rmsNormBackward(dx, dw, d.get("out"), in.get("x"), in.get("w"), fwd.get("rstd"));
          return map("x", dx, "w", dw);
        }));
    cases.add(new OpCase("gelu", List.of(f32("x", -4, 4, 5, 37)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(5, 37);
          be.gelu(out, in.get("x"));
          return map("out", out);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          be.geluBackward(dx, d.get("out"), in.get("x"));
          return map("x", dx);
        }));
    cases.add(new OpCase("swiglu", List.of(f32("gate", -4, 4, 4, 19), f32("up", -2, 2, 4, 19)), List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(4, 19);
          be.swiglu(out, in.get("gate"), in.get("up"));
          return map("out", out);
        },
        (be, in, fwd, d) -> {
          Tensor dg = zerosLike(be, in.get("gate"));
          Tensor du = zerosLike(be, in.get("up"));
          be.swigluBackward(dg, du, d.get("out"), in.get("gate"), in.get("up"));
          return map("gate", dg, "up", du);
        }));

    cases.add(new OpCase("rope B2 T9 H2 D8", List.of(f32("x", -1, 1, 2, 9, 2, 8), constant("freqs", 0.01f, 1f, 4)),
        List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(2, 9, 2, 8);
          be.rope(out, in.get("x"), in.get("freqs"));
          return map("out", out);
        },
        (be, in, fwd, d) -> {
          Tensor dx = zerosLike(be, in.get("x"));
          be.ropeBackward(dx, d.get("out"), in.get("freqs"));
          return map("x", dx);
        }));

    cases.add(attention("attention B2 T7 H3 D8", 2, 7, 3, 8));

    cases.add(new OpCase("embedding V11 C6", List.of(f32("table", -1, 1, 11, 6), ids("ids", 11, 3, 5)),
        List.of("out"),
        (be, in) -> {
          Tensor out = be.zeros(3, 5, 6);
          be.embedding(out, in.get("table"), in.get("ids"));
          return map("out", out);
        },
        (be, in, fwd, d) -> {
          Tensor dt = zerosLike(be, in.get("table"));
          be.embeddingBackward(dt, d.get("out"), in.get("ids"));
          return map("table", dt);
        }));
    cases.add(new OpCase("crossEntropy N9 V13 (one target ignored)", List.of(f32("logits", -3, 3, 9, 13),
        ids("targets", 13, 9)), List.of("losses"),
        (be, in) -> {
          int[] tg = be.readInts(in.get("targets"));
          tg[4] = -1;
          be.writeInts(in.get("targets"), tg);
          Tensor losses = be.zeros(9);
          Tensor lse = be.zeros(9);
          be.crossEntropy(losses, lse, in.get("logits"), in.get("targets"));
          return map("losses", losses, "lse", lse);
        },
        (be, in, fwd, d) -> {
          // Cross-entropy backward takes one loss scale, not per-row weights: the loss is the plain sum.
          Tensor dz = zerosLike(be, in.get("logits"));
          be.crossEntropyBackward(dz, in.get("logits"), in.get("targets"), fwd.get("lse"), 1f);
          return map("logits", dz);
        }).withUnitLossWeights());
    cases.add(new OpCase("adamw, 3 steps", List.of(f32("p", -1, 1, 300), constant("g", -1, 1, 300)), List.of("p"),
        (be, in) -> {
          Tensor p = be.zeros(300);
          be.copy(p, in.get("p"));
          Tensor m1 = be.zeros(300);
          Tensor v1 = be.zeros(300);
          for (int step = 1; step <= 3; step++) {
            be.adamw(p, in.get("g"), m1, v1, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
          }
          return map("p", p, "m", m1, "v", v1);
        }, null));
    return cases;
  }
}
