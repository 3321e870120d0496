import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import type { Tensor } from '../core/tensor.js';
import { rmsNorm } from '../composites/rms-norm.js';
import { silu } from '../composites/silu.js';
import { serializeModel } from '../onnx/model-proto.js';
import { GraphSession } from '../session/graph-session.js';
import { seededUniform } from '../testing/seeded-uniform.js';
import type { CheckpointSegment } from './checkpoint-segments.js';
import { gradients } from './gradients.js';

const N = 5;
const D = 6;
const LAYERS = 3;

/**
 * Residual blocks x + silu(rmsNorm(x)·W)·V·softmax-weighted (enough op kinds whose rules read
 * inputs, outputs and shapes), one checkpoint segment per block when `checkpoint`.
 */
function residualStack(checkpoint: boolean | 'keep-matmuls'): {
  g: GraphBuilder;
  segments: CheckpointSegment[];
  blockInputs: Tensor[];
  forwardNodes: number;
} {
  const g = new GraphBuilder();
  let x = g.input('x', 'float64', ['N', D]);
  const segments: CheckpointSegment[] = [];
  const blockInputs: Tensor[] = [];
  for (let l = 0; l < LAYERS; l++) {
    const w = g.input(`w${l}`, 'float64', [D, D]);
    const v = g.input(`v${l}`, 'float64', [D, D]);
    const start = g.nodes.length;
    blockInputs.push(x);
    const h = silu(g, g.matmul(rmsNorm(g, x, g.scalarLike(x, 1), 1e-5), w)); // [N, D]
    const attn = g.softmax(h, -1);
    x = g.add(x, g.matmul(g.mul(h, attn), v));
    segments.push({ start, end: g.nodes.length });
  }
  const loss = g.reduceSum(g.mul(x, x), [], false);
  g.output('loss', loss);
  const forwardNodes = g.nodes.length;
  const wrt = [...g.inputs];
  const grads = gradients(
    g,
    loss,
    wrt,
    checkpoint === false
      ? {}
      : checkpoint === true
        ? { checkpoints: segments }
        : {
            checkpoints: segments,
            keepInCheckpoints: (t) => t.producer?.opType === 'MatMul',
          },
  );
  grads.forEach((d, i) => g.output(`grad.${wrt[i]?.name ?? i}`, d));
  return { g, segments, blockInputs, forwardNodes };
}

async function run(g: GraphBuilder): Promise<Record<string, Float64Array>> {
  const session = await GraphSession.create(serializeModel(g), {
    intraOpThreads: 1,
    graphOptimizationLevel: 'basic', // the CPU build's SiLU fusion has float32 kernels only
  });
  const feeds: Record<string, { dtype: 'float64'; dims: number[]; data: Float64Array }> = {};
  g.inputs.forEach((t, i) => {
    const dims = t.name === 'x' ? [N, D] : [D, D];
    feeds[t.name] = {
      dtype: 'float64',
      dims,
      data: seededUniform(11 + i, dims[0]! * dims[1]!, -0.5, 0.5),
    };
  });
  const out = await session.run(feeds);
  await session.close();
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as Float64Array]));
}

describe('activation checkpointing', () => {
  it('gives the same loss and gradients as keeping the activations', async () => {
    const [kept, recomputed] = await Promise.all([
      run(residualStack(false).g),
      run(residualStack(true).g),
    ]);
    expect(Object.keys(recomputed).sort()).toEqual(Object.keys(kept).sort());
    for (const [name, want] of Object.entries(kept)) {
      const got = recomputed[name];
      // Same ops on the same values in float64: equal to rounding (1e-12 relative).
      want.forEach((w, i) =>
        expect(Math.abs((got?.[i] ?? NaN) - w)).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(w)),
        ),
      );
    }
  });

  it('the backward reads no tensor of a segment but the segments’ inputs and results', () => {
    const { g, segments, blockInputs, forwardNodes } = residualStack(true);
    const inSegment = new Set(
      segments.flatMap((s) =>
        g.nodes.slice(s.start, s.end).flatMap((n) => n.outputs.map((o) => o.name)),
      ),
    );
    const boundaries = new Set(blockInputs.map((t) => t.name));
    const lastBlock = g.nodes[segments[LAYERS - 1]!.end - 1]!.outputs[0]!.name; // x after the stack
    const read = g.nodes
      .slice(forwardNodes)
      .flatMap((n) => n.inputs)
      .filter((t): t is Tensor => t !== undefined && inSegment.has(t.name))
      .map((t) => t.name);
    expect(read.length).toBeGreaterThan(0); // the blocks' results are read
    for (const name of read) expect(boundaries.has(name) || name === lastBlock).toBe(true);
  });

  it('replays a segment gated on the gradient reaching it, each recomputed node once', () => {
    const { g, forwardNodes } = residualStack(true);
    const plain = residualStack(false).g;
    const backward = g.nodes.slice(forwardNodes);
    // One gate (Size of the gradient) per segment.
    expect(backward.filter((n) => n.opType === 'Size')).toHaveLength(LAYERS);
    // The recomputation adds at most the forward's nodes of the blocks again.
    expect(g.nodes.length - plain.nodes.length).toBeLessThanOrEqual(forwardNodes + 4 * LAYERS);
  });

  it('keeps what keepInCheckpoints selects: same gradients, the products not recomputed', async () => {
    const plain = residualStack(false);
    const selective = residualStack('keep-matmuls');
    const [want, got] = await Promise.all([run(plain.g), run(selective.g)]);
    for (const [name, w] of Object.entries(want)) {
      w.forEach((v, i) =>
        expect(Math.abs((got[name]?.[i] ?? NaN) - v)).toBeLessThanOrEqual(
          1e-12 * Math.max(1, Math.abs(v)),
        ),
      );
    }
    const backwardOps = (b: ReturnType<typeof residualStack>, op: string): number =>
      b.g.nodes.slice(b.forwardNodes).filter((n) => n.opType === op).length;
    // The backward has the products' gradients only, no replayed product...
    expect(backwardOps(selective, 'MatMul')).toBe(backwardOps(plain, 'MatMul'));
    // ...but replays the cheap ops (each block's softmax) that full checkpointing also replays.
    expect(backwardOps(selective, 'Softmax')).toBe(LAYERS);
    expect(backwardOps(residualStack(true), 'MatMul')).toBeGreaterThan(
      backwardOps(plain, 'MatMul'),
    );
  });

  it('refuses segments that overlap or reach past the nodes built', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    const loss = g.reduceSum(g.exp(g.mul(x, x)), [], false);
    expect(() =>
      gradients(g, loss, [x], {
        checkpoints: [
          { start: 0, end: 2 },
          { start: 1, end: 3 },
        ],
      }),
    ).toThrow('checkpoint segments 0 and 1 overlap at node 1');
    expect(() => gradients(g, loss, [x], { checkpoints: [{ start: 0, end: 9 }] })).toThrow(
      'checkpoint segment 0: [0, 9) ends past the 3 nodes built',
    );
  });
});
