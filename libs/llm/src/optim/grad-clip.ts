/**
 * Gradient clipping by global L2 norm, as `torch.nn.utils.clip_grad_norm_` does: the norm is taken
 * over all gradients together and, when it exceeds `maxNorm`, every gradient is scaled by
 * `maxNorm / (norm + 1e-6)`.
 */

/** The L2 norm of all values of all `grads` together (accumulated in float64). */
export function globalGradNorm(grads: Iterable<Float32Array>): number {
  let sum = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const v = g[i] as number;
      sum += v * v;
    }
  }
  return Math.sqrt(sum);
}

/**
 * Scales `grads` in place so that their global norm is at most `maxNorm`; returns the norm before
 * clipping (what training logs report). A non-finite norm is returned unchanged and nothing is
 * scaled, so the caller can stop the run and say so.
 */
export function clipGradNorm(grads: Iterable<Float32Array>, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`maxNorm must be > 0, got ${maxNorm}`);
  const list = [...grads];
  const norm = globalGradNorm(list);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const g of list) {
      for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * coef;
    }
  }
  return norm;
}
