/**
 * AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
 * Regularization", ICLR 2019, Algorithm 2), with the same update order and bias correction as
 * `torch.optim.AdamW`, so a PyTorch run and a Lathe run from the same state agree.
 */

/** AdamW hyper-parameters; every field has a default matching `torch.optim.AdamW`. */
export interface AdamWOptions {
  /** Exponential decay of the first moment. Default 0.9. */
  readonly beta1?: number;
  /** Exponential decay of the second moment. Default 0.999. */
  readonly beta2?: number;
  /** Added to the denominator for numerical stability. Default 1e-8. */
  readonly eps?: number;
  /** Decoupled weight decay coefficient (multiplied by the learning rate). Default 0.01. */
  readonly weightDecay?: number;
  /**
   * Which parameters weight decay applies to, by name. Default: all. Trainers pass a filter that
   * spares biases and norm scales, as Hugging Face's Trainer does.
   */
  readonly decays?: (name: string) => boolean;
}

/** The optimizer state of one parameter tensor (PyTorch's `exp_avg`, `exp_avg_sq`). */
export interface AdamWMoments {
  /** First moment estimate, same length as the parameter. */
  readonly expAvg: Float32Array;
  /** Second (uncentered) moment estimate, same length as the parameter. */
  readonly expAvgSq: Float32Array;
}

/** The full state of an {@link AdamW} optimizer, as written into checkpoints. */
export interface AdamWState {
  /** Number of updates applied so far (PyTorch's per-parameter `step`, shared here). */
  readonly step: number;
  /** Moments by parameter name. */
  readonly moments: ReadonlyMap<string, AdamWMoments>;
}

function checkRange(name: string, value: number, low: number, high: number): number {
  if (!(value >= low && value < high)) {
    throw new RangeError(`AdamW ${name} must be in [${low}, ${high}), got ${value}`);
  }
  return value;
}

/**
 * AdamW over named Float32Array parameters, updated in place.
 *
 * One shared step counter: all parameters of a run are updated together, as in a PyTorch
 * optimizer with a single param group.
 */
export class AdamW {
  /** First-moment decay. */
  readonly beta1: number;
  /** Second-moment decay. */
  readonly beta2: number;
  /** Denominator epsilon. */
  readonly eps: number;
  /** Decoupled weight decay. */
  readonly weightDecay: number;
  private readonly decays: (name: string) => boolean;
  private stepCount = 0;
  private readonly moments = new Map<string, AdamWMoments>();

  /** Validates the options; see {@link AdamWOptions} for defaults. */
  constructor(options: AdamWOptions = {}) {
    this.beta1 = checkRange('beta1', options.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkRange('beta2', options.beta2 ?? 0.999, 0, 1);
    this.eps = checkRange('eps', options.eps ?? 1e-8, 0, Infinity);
    this.weightDecay = checkRange('weightDecay', options.weightDecay ?? 0.01, 0, Infinity);
    this.decays = options.decays ?? (() => true);
  }

  /** Updates applied so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * Applies one update with learning rate `lr` to every parameter in `params` using `grads`
   * (same names, same lengths). Parameters are modified in place.
   */
  update(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
  ): void {
    if (!(lr >= 0) || !Number.isFinite(lr))
      throw new RangeError(`learning rate must be finite and >= 0, got ${lr}`);
    for (const name of grads.keys()) {
      if (!params.has(name)) throw new Error(`AdamW: gradient "${name}" has no parameter`);
    }
    const t = this.stepCount + 1;
    const bias1 = 1 - this.beta1 ** t;
    const bias2Sqrt = Math.sqrt(1 - this.beta2 ** t);
    const stepSize = lr / bias1;
    const fullDecay = 1 - lr * this.weightDecay;
    const { beta1, beta2, eps } = this;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (g === undefined) throw new Error(`AdamW: parameter "${name}" has no gradient`);
      if (g.length !== p.length) {
        throw new Error(
          `AdamW: gradient "${name}" has ${g.length} values, parameter has ${p.length}`,
        );
      }
      const decay = this.decays(name) ? fullDecay : 1;
      const m = this.momentsFor(name, p.length);
      const ea = m.expAvg;
      const es = m.expAvgSq;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        // Decoupled decay first (Algorithm 2, line 12), then the Adam step on the raw gradient.
        const pi = (p[i] as number) * decay;
        const mi = beta1 * (ea[i] as number) + (1 - beta1) * gi;
        const vi = beta2 * (es[i] as number) + (1 - beta2) * gi * gi;
        ea[i] = mi;
        es[i] = vi;
        p[i] = pi - (stepSize * (ea[i] as number)) / (Math.sqrt(es[i] as number) / bias2Sqrt + eps);
      }
    }
    this.stepCount = t;
  }

  /** A deep copy of the state (safe to write while training continues). */
  state(): AdamWState {
    const moments = new Map<string, AdamWMoments>();
    for (const [name, m] of this.moments) {
      moments.set(name, { expAvg: m.expAvg.slice(), expAvgSq: m.expAvgSq.slice() });
    }
    return { step: this.stepCount, moments };
  }

  /** Replaces the state with a copy of `state` (from a checkpoint). */
  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new RangeError(`AdamW state step must be a non-negative integer, got ${state.step}`);
    }
    this.moments.clear();
    for (const [name, m] of state.moments) {
      if (m.expAvg.length !== m.expAvgSq.length) {
        throw new Error(`AdamW state for "${name}": moment lengths differ`);
      }
      this.moments.set(name, { expAvg: m.expAvg.slice(), expAvgSq: m.expAvgSq.slice() });
    }
    this.stepCount = state.step;
  }

  private momentsFor(name: string, length: number): AdamWMoments {
    let m = this.moments.get(name);
    if (m === undefined) {
      m = { expAvg: new Float32Array(length), expAvgSq: new Float32Array(length) };
      this.moments.set(name, m);
    } else if (m.expAvg.length !== length) {
      throw new Error(
        `AdamW: parameter "${name}" has ${length} values, its moments ${m.expAvg.length}`,
      );
    }
    return m;
  }
}
