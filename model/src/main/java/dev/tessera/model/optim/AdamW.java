package dev.tessera.model.optim;

import dev.tessera.kernels.Backend;
import dev.tessera.kernels.Tensor;
import dev.tessera.model.Param;
import dev.tessera.model.Params;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with decoupled weight decay, applied only to parameters marked {@code decay} (matrices).
 * The moments are laid out like the parameters' {@link Params.Segment segments}: one update launch
 * per segment.
 */
public final class AdamW implements AutoCloseable {
  private final Backend be;
  private final List<Params.Segment> segments;
  private final float beta1;
  private final float beta2;
  private final float eps;
  private final float weightDecay;
  private final List<Tensor> mSegments = new ArrayList<>();
  private final List<Tensor> vSegments = new ArrayList<>();
  private final Map<String, Tensor> m = new LinkedHashMap<>();
  private final Map<String, Tensor> v = new LinkedHashMap<>();
  private int step;

  public AdamW(Params params, float beta1, float beta2, float eps, float weightDecay) {
    this.be = params.backend();
    this.segments = params.segments();
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    for (Params.Segment s : segments) {
      Tensor ms = be.zeros(s.values().shape().toArray());
      Tensor vs = be.zeros(s.values().shape().toArray());
      mSegments.add(ms);
      vSegments.add(vs);
      for (Param p : s.params()) { // each moment shaped like its parameter (checkpoints hold them so)
        int[] dims = p.value().shape().toArray();
        m.put(p.name(), s.params().size() == 1 ? be.view(ms, dims) : be.slice(ms, s.offsetOf(p), dims));
        v.put(p.name(), s.params().size() == 1 ? be.view(vs, dims) : be.slice(vs, s.offsetOf(p), dims));
      }
    }
  }

  /** One update of every parameter from its gradient. */
  public void step(float lr) {
    step++;
    for (int i = 0; i < segments.size(); i++) {
      Params.Segment s = segments.get(i);
      be.adamw(s.values(), s.grads(), mSegments.get(i), vSegments.get(i), lr, beta1, beta2, eps,
          s.decay() ? weightDecay : 0f, step);
    }
  }

  /** The first moments laid out like {@link Params#segments} (one tensor per segment). */
  public List<Tensor> firstMomentSegments() {
    return mSegments;
  }

  public List<Tensor> secondMomentSegments() {
    return vSegments;
  }

  public float beta1() {
    return beta1;
  }

  public float beta2() {
    return beta2;
  }

  public float eps() {
    return eps;
  }

  public float weightDecay() {
    return weightDecay;
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
    mSegments.forEach(Tensor::close);
    vSegments.forEach(Tensor::close);
  }
}
