package dev.tessera.model.optim;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** AdamW with decoupled weight decay, applied only to parameters marked {@code decay} (matrices). */
public final class AdamW implements AutoCloseable {
  private final Backend be;
  private final List<Param> params;
  private final float beta1;
  private final float beta2;
  private final float eps;
  private final float weightDecay;
  private final Map<String, Tensor> m = new LinkedHashMap<>();
  private final Map<String, Tensor> v = new LinkedHashMap<>();
  private int step;

  public AdamW(Backend be, List<Param> params, float beta1, float beta2, float eps, float weightDecay) {
    this.be = be;
    this.params = params;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    for (Param p : params) {
      m.put(p.name(), be.allocate(p.value().dtype(), p.value().shape()));
      v.put(p.name(), be.allocate(p.value().dtype(), p.value().shape()));
    }
  }

  /** One update of every parameter from its gradient. */
  public void step(float lr) {
    step++;
    for (Param p : params) {
      be.adamw(p.value(), p.grad(), m.get(p.name()), v.get(p.name()), lr, beta1, beta2, eps,
          p.decay() ? weightDecay : 0f, step);
    }
  }

  /** Updates done so far (AdamW's bias correction counts them). */
  public int steps() {
    return step;
  }

  public void setSteps(int steps) {
    this.step = steps;
  }

  /** First and second moments by parameter name, for checkpoints. */
  public Map<String, Tensor> firstMoments() {
    return m;
  }

  public Map<String, Tensor> secondMoments() {
    return v;
  }

  @Override
  public void close() {
    m.values().forEach(Tensor::close);
    v.values().forEach(Tensor::close);
  }
}
