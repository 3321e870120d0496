import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';

/** SiLU (Elfwing et al. 2018; Swish with β = 1): x · σ(x), built from Mul and Sigmoid. */
export function silu(g: GraphBuilder, x: Tensor): Tensor {
  return g.mul(x, g.sigmoid(x));
}
