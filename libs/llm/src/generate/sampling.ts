import type { SeededRandom } from '../optim/seeded-random.js';

/** How the next token is chosen from the logits. */
export type SamplingOptions =
  | { readonly greedy: true }
  | {
      readonly greedy?: false;
      /** Logits are divided by this before the softmax (> 0). Default 1. */
      readonly temperature?: number;
      /** Keep only the k most likely tokens (0 = off). Default 0. */
      readonly topK?: number;
      /** Keep the smallest set of most likely tokens whose mass reaches p (1 = off). Default 1. */
      readonly topP?: number;
    };

/** Validates sampling options; throws a RangeError naming the bad field. */
export function validateSampling(options: SamplingOptions): void {
  if (options.greedy) return;
  const { temperature = 1, topK = 0, topP = 1 } = options;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`temperature must be a positive number, got ${temperature}`);
  }
  if (!Number.isInteger(topK) || topK < 0)
    throw new RangeError(`top-k must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
}

/** Index of the largest logit (the first one on ties, as argmax in PyTorch and llama2.c). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] ?? -Infinity;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * Picks the next token. Filters apply in Hugging Face's order: temperature, then top-k, then
 * top-p (nucleus sampling, Holtzman et al. 2019, section 3.1), then one draw from `rng`.
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  rng: SeededRandom,
): number {
  if (options.greedy) return argmax(logits);
  const { temperature = 1, topK = 0, topP = 1 } = options;
  const order = Array.from(logits.keys()).sort(
    (a, b) => (logits[b] ?? 0) - (logits[a] ?? 0) || a - b,
  );
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const top = (logits[kept[0] ?? 0] ?? 0) / temperature;
  const weights = kept.map((i) => Math.exp((logits[i] ?? 0) / temperature - top));
  const total = weights.reduce((a, w) => a + w, 0);
  let n = kept.length;
  if (topP < 1) {
    // Smallest prefix (by descending probability) whose mass reaches topP; always at least one.
    let mass = 0;
    for (n = 0; n < kept.length && mass < topP * total; n++) mass += weights[n] ?? 0;
  }
  const mass = weights.slice(0, n).reduce((a, w) => a + w, 0);
  let u = rng.nextFloat() * mass;
  for (let j = 0; j < n; j++) {
    u -= weights[j] ?? 0;
    if (u < 0) return kept[j] ?? 0;
  }
  return kept[n - 1] ?? 0;
}
