import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';

/**
 * RMSNorm (Zhang & Sennrich 2019, eq. 4) over the last axis: x / √(mean(x²) + ε) · w, built
 * from primitives so that its gradient comes from their rules.
 */
export function rmsNorm(g: GraphBuilder, x: Tensor, weight: Tensor, eps: number): Tensor {
  const meanSquare = g.reduceMean(g.mul(x, x), [-1], true); // [.., 1]
  const inverseRms = g.reciprocal(g.sqrt(g.add(meanSquare, g.scalarLike(x, eps)))); // [.., 1]
  return g.mul(g.mul(x, inverseRms), weight);
}
