import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';
import { serializeModel } from '../onnx/model-proto.js';
import { GraphSession } from '../session/graph-session.js';
import type { TensorMap } from '../session/tensor-data.js';
import { checkGradients } from '../testing/check-gradients.js';
import { f64 } from '../testing/op-gradient-cases.js';
import { seededUniform } from '../testing/seeded-uniform.js';
import { attentionBias } from './attention-bias.js';
import { rmsNorm } from './rms-norm.js';
import { silu } from './silu.js';
import { tokenNll } from './token-nll.js';

// Float64 central differences (ε = 1e-6): |analytic − numeric| ≤ 1e-7 + 1e-6·max|numeric|.
const ATOL = 1e-7;
const RTOL = 1e-6;

async function runOnce(g: GraphBuilder, feeds: TensorMap): Promise<TensorMap> {
  const session = await GraphSession.create(serializeModel(g));
  try {
    return await session.run(feeds);
  } finally {
    await session.close();
  }
}

/** Σ y ⊙ R with R a fixed random tensor of y's static shape. */
function projectedLoss(g: GraphBuilder, y: Tensor, dims: readonly number[]): Tensor {
  const count = dims.reduce((n, d) => n * d, 1);
  return g.reduceSum(
    g.mul(y, g.constant(y.dtype, dims, Array.from(seededUniform(77, count)))),
    [],
    false,
  );
}

function expectGradientsClose(result: Awaited<ReturnType<typeof checkGradients>>): void {
  for (const [name, c] of result.inputs) {
    expect(c.maxAbsValue, `gradient of ${name} is zero`).toBeGreaterThan(0);
    expect(c.maxAbsError, `d loss / d ${name}`).toBeLessThanOrEqual(ATOL + RTOL * c.maxAbsValue);
  }
}

describe('rmsNorm', () => {
  it('matches x / sqrt(mean(x²) + eps) · w computed in JS', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float64', ['B', 4]);
    const w = g.input('w', 'float64', [4]);
    g.output('y', rmsNorm(g, x, w, 1e-5));
    const xs = f64([2, 4], 1);
    const ws = f64([4], 2);
    const y = (await runOnce(g, { x: xs, w: ws }))['y']?.data as Float64Array;
    for (let r = 0; r < 2; r++) {
      let ms = 0;
      for (let c = 0; c < 4; c++) ms += (xs.data[r * 4 + c] as number) ** 2 / 4;
      for (let c = 0; c < 4; c++) {
        const want =
          ((xs.data[r * 4 + c] as number) / Math.sqrt(ms + 1e-5)) * (ws.data[c] as number);
        expect(y[r * 4 + c]).toBeCloseTo(want, 12);
      }
    }
  });

  it('has input and weight gradients that match finite differences', async () => {
    const result = await checkGradients({
      feeds: { x: f64([3, 4], 3), w: f64([4], 4) },
      build: (g) => {
        const x = g.input('x', 'float64', ['N', 4]);
        const w = g.input('w', 'float64', [4]);
        return { loss: projectedLoss(g, rmsNorm(g, x, w, 1e-6), [3, 4]), wrt: [x, w] };
      },
    });
    expectGradientsClose(result);
  });
});

describe('silu', () => {
  it('is x·σ(x) with a gradient that matches finite differences', async () => {
    const result = await checkGradients({
      feeds: { x: f64([2, 5], 5, -4, 4) },
      build: (g) => {
        const x = g.input('x', 'float64', [2, 5]);
        return { loss: projectedLoss(g, silu(g, x), [2, 5]), wrt: [x] };
      },
    });
    expectGradientsClose(result);
    // Forward alone in float32: onnxruntime fuses x·σ(x) into QuickGelu, which has no float64 kernel.
    const g = new GraphBuilder();
    g.output('y', silu(g, g.input('x', 'float32', [1])));
    const y = (
      await runOnce(g, { x: { dtype: 'float32', dims: [1], data: Float32Array.from([1.5]) } })
    )['y'];
    expect(y?.data[0]).toBeCloseTo(1.5 / (1 + Math.exp(-1.5)), 6);
  });
});

describe('tokenNll', () => {
  it('gives −log softmax at the label per token, 0 at ignored positions, on [B, T, V]', async () => {
    const g = new GraphBuilder();
    const logits = g.input('logits', 'float64', ['B', 'T', 3]);
    const labels = g.input('labels', 'int64', ['B', 'T']);
    g.output('nll', tokenNll(g, logits, labels));
    const l = f64([1, 2, 3], 6, -2, 2);
    const out = await runOnce(g, {
      logits: l,
      labels: { dtype: 'int64', dims: [1, 2], data: BigInt64Array.from([2n, -100n]) },
    });
    const nll = out['nll'];
    expect(nll?.dims).toEqual([1, 2]);
    const row = [0, 1, 2].map((i) => l.data[i] as number);
    const logSumExp = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    expect(nll?.data[0]).toBeCloseTo(logSumExp - (row[2] as number), 12);
    expect(Math.abs(Number(nll?.data[1]))).toBe(0);
  });

  it('has a logits gradient that matches finite differences', async () => {
    const result = await checkGradients({
      feeds: {
        logits: f64([2, 3, 4], 7, -2, 2),
        labels: {
          dtype: 'int64',
          dims: [2, 3],
          data: BigInt64Array.from([1n, 3n, -100n, 0n, 2n, 2n]),
        },
      },
      build: (g) => {
        const logits = g.input('logits', 'float64', ['B', 'T', 4]);
        const labels = g.input('labels', 'int64', ['B', 'T']);
        // The trainer's loss: Σ NLL · loss_weight.
        const loss = g.mul(
          g.reduceSum(tokenNll(g, logits, labels), [], false),
          g.scalar(0.25, 'float64'),
        );
        return { loss, wrt: [logits] };
      },
    });
    expectGradientsClose(result);
  });
});

describe('attentionBias', () => {
  it('lets a token see earlier tokens of its own segment and padding see only itself', async () => {
    const g = new GraphBuilder();
    const seg = g.input('segment_ids', 'int64', ['B', 'T']);
    g.output('bias', attentionBias(g, seg, 'float64'));
    const out = await runOnce(g, {
      segment_ids: { dtype: 'int64', dims: [1, 5], data: BigInt64Array.from([1n, 1n, 2n, 2n, 0n]) },
    });
    expect(out['bias']?.dims).toEqual([1, 1, 5, 5]);
    const allowed = Array.from(out['bias']?.data as Float64Array, (v) =>
      v === 0 ? 1 : v === -Infinity ? 0 : NaN,
    );
    // prettier-ignore
    expect(allowed).toEqual([
      1, 0, 0, 0, 0,
      1, 1, 0, 0, 0,
      0, 0, 1, 0, 0,
      0, 0, 1, 1, 0,
      0, 0, 0, 0, 1,
    ]);
  });

  it('gives finite attention gradients through a masked softmax', async () => {
    const result = await checkGradients({
      feeds: {
        scores: f64([1, 1, 4, 4], 8, -2, 2),
        segment_ids: { dtype: 'int64', dims: [1, 4], data: BigInt64Array.from([1n, 1n, 1n, 0n]) },
      },
      build: (g) => {
        const scores = g.input('scores', 'float64', ['B', 1, 'T', 'T']);
        const seg = g.input('segment_ids', 'int64', ['B', 'T']);
        const probs = g.softmax(g.add(scores, attentionBias(g, seg, 'float64')), -1);
        return { loss: projectedLoss(g, probs, [1, 1, 4, 4]), wrt: [scores] };
      },
    });
    expectGradientsClose(result);
    const grad = result.inputs.get('scores')?.analytic;
    expect(grad && Array.from(grad).every(Number.isFinite)).toBe(true);
  });
});
