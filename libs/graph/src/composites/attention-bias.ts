import type { DType } from '../core/dtype.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';

/**
 * Additive attention bias for packed causal sequences: from int64 `segmentIds` [B, T] gives
 * [B, 1, T, T] with 0 where query t may attend to key s (s ≤ t and same segment) and −∞
 * elsewhere. Segment 0 marks padding: a padding query sees only itself, which keeps softmax
 * finite (its outputs are never used: padding carries label −100).
 */
export function attentionBias(
  g: GraphBuilder,
  segmentIds: Tensor,
  dtype: DType = 'float32',
): Tensor {
  const length = g.squeeze(g.shape(segmentIds, 1, 2), [0]); // scalar T
  const positions = g.range(g.scalar(0, 'int64'), length, g.scalar(1, 'int64')); // [T]
  const causal = g.lessOrEqual(g.unsqueeze(positions, [0]), g.unsqueeze(positions, [1])); // [T(q), T(k)]: k ≤ q
  const diagonal = g.equal(g.unsqueeze(positions, [0]), g.unsqueeze(positions, [1])); // [T, T]
  const query = g.unsqueeze(segmentIds, [2]); // [B, T, 1]
  const key = g.unsqueeze(segmentIds, [1]); // [B, 1, T]
  const sameSegment = g.and(g.equal(query, key), g.not(g.equal(query, g.scalar(0, 'int64')))); // [B, T, T]
  const allowed = g.or(g.and(sameSegment, causal), diagonal); // [B, T, T]
  const bias = g.where(allowed, g.scalar(0, dtype), g.scalar(-Infinity, dtype)); // [B, T, T]
  return g.unsqueeze(bias, [1]); // [B, 1, T, T]
}
