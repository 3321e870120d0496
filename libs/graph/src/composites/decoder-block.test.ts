import { describe, expect, it } from 'vitest';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';
import { checkGradients } from '../testing/check-gradients.js';
import { f64 } from '../testing/op-gradient-cases.js';
import { attentionBias } from './attention-bias.js';
import { rmsNorm } from './rms-norm.js';
import { silu } from './silu.js';
import { tokenNll } from './token-nll.js';

// A whole pre-norm decoder block in float64 (RoPE by slices, grouped-query attention through
// broadcasting MatMuls, packed-sequence mask, SwiGLU, LM head, token NLL): every weight's
// gradient against central differences, |analytic − numeric| ≤ 1e-7 + 1e-6·max|numeric|.
const D = 4;
const HEADS = 2;
const KV_HEADS = 1;
const HD = 2;
const F = 6;
const V = 5;

const WEIGHTS: Readonly<Record<string, readonly number[]>> = {
  embed: [V, D],
  norm1: [D],
  wq: [HEADS * HD, D],
  wk: [KV_HEADS * HD, D],
  wv: [KV_HEADS * HD, D],
  wo: [D, HEADS * HD],
  norm2: [D],
  gate: [F, D],
  up: [F, D],
  down: [D, F],
  head: [V, D],
};

function rope(g: GraphBuilder, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const x1 = g.slice(x, [0], [HD / 2], [-1]);
  const x2 = g.slice(x, [HD / 2], [HD], [-1]);
  return g.add(g.mul(x, cos), g.mul(g.concat([g.neg(x2), x1], -1), sin));
}

function block(
  g: GraphBuilder,
  w: Readonly<Record<string, Tensor>>,
  ids: Tensor,
  seg: Tensor,
  labels: Tensor,
  cos: Tensor,
  sin: Tensor,
): Tensor {
  const W = (n: string): Tensor => w[n] as Tensor;
  const linear = (x: Tensor, name: string): Tensor =>
    g.gemm(x, W(name), undefined, { transB: true });
  const group = HEADS / KV_HEADS;
  const x = g.reshape(g.gather(W('embed'), ids, 0), [-1, D]); // [B·T, D]
  const h = rmsNorm(g, x, W('norm1'), 1e-6);
  let q = g.reshape(linear(h, 'wq'), g.concat([g.shape(ids), g.int64s([KV_HEADS, group, HD])], 0)); // [B, T, Hkv, G, hd]
  let k = g.reshape(linear(h, 'wk'), g.concat([g.shape(ids), g.int64s([KV_HEADS, HD])], 0)); // [B, T, Hkv, hd]
  const v = g.reshape(linear(h, 'wv'), g.concat([g.shape(ids), g.int64s([KV_HEADS, HD])], 0));
  q = g.transpose(
    rope(g, q, g.unsqueeze(cos, [0, 2, 3]), g.unsqueeze(sin, [0, 2, 3])),
    [0, 2, 3, 1, 4],
  ); // [B, Hkv, G, T, hd]
  k = g.transpose(rope(g, k, g.unsqueeze(cos, [0, 2]), g.unsqueeze(sin, [0, 2])), [0, 2, 3, 1]); // [B, Hkv, hd, T]
  const scores = g.add(
    g.mul(g.matmul(q, g.unsqueeze(k, [2])), g.scalar(1 / Math.sqrt(HD), 'float64')),
    g.unsqueeze(attentionBias(g, seg, 'float64'), [2]),
  ); // [B, Hkv, G, T, T]
  const attended = g.matmul(g.softmax(scores, -1), g.unsqueeze(g.transpose(v, [0, 2, 1, 3]), [2])); // [B, Hkv, G, T, hd]
  const merged = g.reshape(g.transpose(attended, [0, 3, 1, 2, 4]), [-1, HEADS * HD]); // [B·T, H·hd]
  const x2 = g.add(x, linear(merged, 'wo'));
  const m = rmsNorm(g, x2, W('norm2'), 1e-6);
  const x3 = g.add(x2, linear(g.mul(silu(g, linear(m, 'gate')), linear(m, 'up')), 'down'));
  const logits = g.reshape(linear(x3, 'head'), g.concat([g.shape(ids), g.int64s([V])], 0)); // [B, T, V]
  return g.reduceSum(tokenNll(g, logits, labels), [], false);
}

describe('a decoder block built from the composites', () => {
  it('has gradients for every weight that match finite differences', async () => {
    const B = 1;
    const T = 4;
    const feeds = {
      ...Object.fromEntries(
        Object.entries(WEIGHTS).map(([name, dims], i) => [name, f64(dims, 100 + i, -0.8, 0.8)]),
      ),
      ids: { dtype: 'int64' as const, dims: [B, T], data: BigInt64Array.from([3n, 1n, 4n, 1n]) },
      seg: { dtype: 'int64' as const, dims: [B, T], data: BigInt64Array.from([1n, 1n, 2n, 2n]) },
      labels: {
        dtype: 'int64' as const,
        dims: [B, T],
        data: BigInt64Array.from([1n, -100n, 1n, 0n]),
      },
    };
    const angles = Array.from(
      { length: T * HD },
      (_, i) => Math.floor(i / HD) * 0.7 * ((i % HD) + 1),
    );
    const result = await checkGradients({
      feeds,
      build: (g) => {
        const w = Object.fromEntries(
          Object.entries(WEIGHTS).map(([name, dims]) => [name, g.input(name, 'float64', dims)]),
        );
        const ids = g.input('ids', 'int64', ['B', 'T']);
        const seg = g.input('seg', 'int64', ['B', 'T']);
        const labels = g.input('labels', 'int64', ['B', 'T']);
        const cos = g.constant('float64', [T, HD], angles.map(Math.cos));
        const sin = g.constant('float64', [T, HD], angles.map(Math.sin));
        return { loss: block(g, w, ids, seg, labels, cos, sin), wrt: Object.values(w) };
      },
    });
    expect(result.inputs.size).toBe(Object.keys(WEIGHTS).length);
    for (const [name, c] of result.inputs) {
      expect(c.maxAbsValue, `gradient of ${name} is zero`).toBeGreaterThan(0);
      expect(c.maxAbsError, `d loss / d ${name}`).toBeLessThanOrEqual(1e-7 + 1e-6 * c.maxAbsValue);
    }
  });
});
