import { describe, expect, it } from 'vitest';
import { attr } from '../core/attribute.js';
import { GraphBuilder } from '../core/graph-builder.js';
import { gradients } from '../autodiff/gradients.js';
import { serializeModel } from '../onnx/model-proto.js';
import { GraphSession } from '../session/graph-session.js';
import type { TensorMap } from '../session/tensor-data.js';
import { checkGradients } from '../testing/check-gradients.js';
import { seededUniform } from '../testing/seeded-uniform.js';
import {
  bnb4Blocks,
  bnb4Codebook,
  bnb4PairTable,
  dequantizeBnb4,
  isBnb4Codebook,
  matMulBnb4,
  type Bnb4Type,
} from './bnb4.js';

/** A random packed weight: uniform random bytes and positive absmax, and its fp32 values in JS. */
function randomWeight(
  n: number,
  k: number,
  blockSize: number,
  type: Bnb4Type,
  seed: number,
): { packed: Uint8Array; absmax: Float32Array; values: Float32Array } {
  const count = n * k;
  const packed = Uint8Array.from(seededUniform(seed, Math.ceil(count / 2), 0, 256), Math.floor);
  const absmax = Float32Array.from(
    seededUniform(seed + 1, bnb4Blocks({ shape: [n, k], blockSize }), 0.1, 2),
  );
  const codebook = bnb4Codebook(type);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const byte = packed[i >> 1]!;
    const code = i % 2 === 0 ? byte >> 4 : byte & 0x0f; // the even element in the high nibble
    values[i] = Math.fround(codebook[code]! * absmax[Math.floor(i / blockSize)]!);
  }
  return { packed, absmax, values };
}

async function run(g: GraphBuilder, feeds: TensorMap): Promise<TensorMap> {
  const session = await GraphSession.create(serializeModel(g), {
    disabledOptimizers: ['ConstantFolding'],
    intraOpThreads: 1,
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.close();
  }
}

/** y[m, o] = Σ_c x[m, c] · w[o, c] in float64. */
function referenceProduct(x: Float32Array, w: Float32Array, m: number, n: number, k: number) {
  const y = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let o = 0; o < n; o++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[r * k + c]! * w[o * k + c]!;
      y[r * n + o] = s;
    }
  }
  return y;
}

const CASES: { n: number; k: number; blockSize: number; type: Bnb4Type }[] = [
  { n: 24, k: 64, blockSize: 64, type: 'nf4' },
  { n: 10, k: 96, blockSize: 32, type: 'fp4' },
  { n: 3, k: 40, blockSize: 64, type: 'nf4' }, // 120 elements: the last block is partial
];

describe('bnb4 codebooks', () => {
  it('are the bitsandbytes tables: NF4 ascending from -1 to 1 with an exact 0, FP4 sign-magnitude', () => {
    const nf4 = bnb4Codebook('nf4');
    for (let i = 1; i < 16; i++) expect(nf4[i]!).toBeGreaterThan(nf4[i - 1]!);
    expect([nf4[0], nf4[7], nf4[15]]).toEqual([-1, 0, 1]);
    const fp4 = bnb4Codebook('fp4');
    for (let c = 0; c < 8; c++) expect(fp4[c + 8]).toBe(-fp4[c]!);
    expect(fp4[3]).toBe(1);
    expect(isBnb4Codebook(nf4, 'nf4')).toBe(true);
    expect(isBnb4Codebook(nf4, 'fp4')).toBe(false);
    const custom = bnb4Codebook('nf4');
    custom[4] = 0.25;
    expect(isBnb4Codebook(custom, 'nf4')).toBe(false);
  });
});

describe('dequantizeBnb4', () => {
  it('restores codebook[code] · absmax bit for bit, high nibble first, partial last block', async () => {
    for (const [i, { n, k, blockSize, type }] of CASES.entries()) {
      const w = randomWeight(n, k, blockSize, type, 10 + i);
      const g = new GraphBuilder();
      const packed = g.initializer('packed', 'uint8', [w.packed.length], w.packed);
      const absmax = g.initializer('absmax', 'float32', [w.absmax.length], w.absmax);
      const table = g.initializer('table', 'float32', [256, 2], bnb4PairTable(bnb4Codebook(type)));
      g.output('w', dequantizeBnb4(g, packed, absmax, table, { shape: [n, k], blockSize }));
      const out = (await run(g, {}))['w'];
      expect(out?.dims).toEqual([n, k]);
      expect(out?.data).toEqual(w.values);
    }
  });
});

describe('matMulBnb4 (com.microsoft.MatMulBnb4)', () => {
  it('computes x · Wᵀ for NF4 and FP4, whole and partial blocks', async () => {
    for (const [i, { n, k, blockSize, type }] of CASES.entries()) {
      const w = randomWeight(n, k, blockSize, type, 20 + i);
      const m = 5;
      const x = Float32Array.from(seededUniform(30 + i, m * k));
      const g = new GraphBuilder();
      const xs = g.input('x', 'float32', ['M', k]);
      const packed = g.initializer('packed', 'uint8', [w.packed.length], w.packed);
      const absmax = g.initializer('absmax', 'float32', [w.absmax.length], w.absmax);
      const y = matMulBnb4(g, xs, packed, absmax, { shape: [n, k], blockSize, type });
      expect(y.shape).toEqual(['M', n]);
      g.output('y', y);
      const out = await run(g, { x: { dtype: 'float32', dims: [m, k], data: x } });
      const got = out['y']?.data as Float32Array;
      const want = referenceProduct(x, w.values, m, n, k);
      for (let j = 0; j < want.length; j++) {
        expect(Math.abs(got[j]! - want[j]!), `${type} ${n}x${k} y[${j}]`).toBeLessThan(
          1e-5 * (1 + Math.abs(want[j]!)),
        );
      }
    }
  });

  it('has the input gradient dY · W (dequantized in the graph), checked against finite differences', async () => {
    for (const [i, { n, k, blockSize, type }] of CASES.entries()) {
      const w = randomWeight(n, k, blockSize, type, 40 + i);
      const m = 3;
      const x = Float32Array.from(seededUniform(50 + i, m * k));
      const r = Array.from(seededUniform(60 + i, m * n));
      const result = await checkGradients({
        build: (g) => {
          const xs = g.input('x', 'float32', [m, k]);
          const packed = g.initializer('packed', 'uint8', [w.packed.length], w.packed);
          const absmax = g.initializer('absmax', 'float32', [w.absmax.length], w.absmax);
          const y = matMulBnb4(g, xs, packed, absmax, { shape: [n, k], blockSize, type });
          const loss = g.reduceSum(g.mul(y, g.constant('float32', [m, n], r)), [0, 1]);
          return { loss, wrt: [xs] };
        },
        feeds: { x: { dtype: 'float32', dims: [m, k], data: x } },
        epsilon: 1e-2, // the loss is linear in x: float32 rounding is the only error
      });
      const check = result.inputs.get('x')!;
      expect(result.forwardOps.has('MatMulBnb4')).toBe(true);
      expect(check.maxAbsError).toBeLessThan(2e-3 * (1 + check.maxAbsValue));
      // Exactly R · W (float64 reference), not only close to the differences.
      for (let row = 0; row < m; row++) {
        for (let c = 0; c < k; c++) {
          let s = 0;
          for (let o = 0; o < n; o++) s += r[row * n + o]! * w.values[o * k + c]!;
          expect(Math.abs(check.analytic[row * k + c]! - s)).toBeLessThan(1e-5 * (1 + Math.abs(s)));
        }
      }
    }
  });

  it('dequantizes for the gradient only after dY exists (the Reshape waits on it)', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['M', 64]);
    const packed = g.initializer('packed', 'uint8', [64], new Uint8Array(64));
    const absmax = g.initializer('absmax', 'float32', [2], new Float32Array([1, 1]));
    const y = matMulBnb4(g, x, packed, absmax, { shape: [2, 64], blockSize: 64, type: 'nf4' });
    const [dx] = gradients(g, g.reduceSum(y, [0, 1]), [x]);
    expect(dx?.shape).toEqual(['M', 64]);
    const gather = g.nodes.find((node) => node.opType === 'Gather');
    expect(gather, 'the backward dequantizes with a Gather').toBeDefined();
    const reshapeOfPacked = g.nodes.find(
      (node) => node.opType === 'Reshape' && node.inputs[0]?.name === 'packed',
    );
    expect(
      reshapeOfPacked?.inputs[1]?.producer,
      'its target is computed, not constant',
    ).toBeDefined();
  });

  it('refuses the layouts onnxruntime does not compute and operands that do not fit', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['M', 64]);
    const packed = g.initializer('packed', 'uint8', [64], new Uint8Array(64));
    const absmax = g.initializer('absmax', 'float32', [2], new Float32Array([1, 1]));
    const attrs = { K: attr.int(64), N: attr.int(2), block_size: attr.int(64) };
    expect(() =>
      g.node(
        'MatMulBnb4',
        [x, packed, absmax],
        { ...attrs, transB: attr.int(0) },
        {
          domain: 'com.microsoft',
        },
      ),
    ).toThrow(/transB = 1/);
    expect(() =>
      matMulBnb4(g, x, packed, absmax, { shape: [1, 128], blockSize: 64, type: 'nf4' }),
    ).toThrow(/K = 128/);
    expect(() =>
      matMulBnb4(g, x, packed, absmax, { shape: [128], blockSize: 64, type: 'nf4' }),
    ).toThrow(/2-D weight/);
  });
});
