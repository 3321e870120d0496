import { GraphBuilder, GraphSession, gradients, serializeModel } from '@lathe/graph';
import { describe, expect, it } from 'vitest';
import { dequantize4bitInGraph } from './dequantize-in-graph.js';
import { createQuantConfig, type QuantOptions } from './quant-config.js';
import { dequantizeTensor, quantizeTensor, type Quantized4bit } from './quantized-tensor.js';
import { gaussian } from './test-models.js';

function quantized(shape: [number, number], options: QuantOptions, seed: number): Quantized4bit {
  const data = gaussian(shape[0] * shape[1], seed);
  const q = quantizeTensor('w', { shape, data }, createQuantConfig(options));
  if (q.kind !== '4bit') throw new Error('expected 4-bit');
  return q;
}

describe('dequantize4bitInGraph', () => {
  it('restores the same bits as dequantizeTensor, for whole and partial blocks, nested or not', async () => {
    const cases: [[number, number], QuantOptions][] = [
      [[16, 64], {}],
      [[7, 13], { scheme: 'fp4' }],
      [[5, 100], { doubleQuant: false, blockSize: 32 }],
    ];
    for (const [i, [shape, options]] of cases.entries()) {
      const q = quantized(shape, options, i + 1);
      const g = new GraphBuilder();
      g.output('w', dequantize4bitInGraph(g, 'w', q));
      const session = await GraphSession.create(serializeModel(g), {
        disabledOptimizers: ['ConstantFolding'],
        intraOpThreads: 1,
      });
      const out = (await session.run({}))['w'];
      await session.close();
      expect(out?.dims).toEqual(shape);
      expect(out?.data).toEqual(dequantizeTensor(q).data);
    }
  });

  it('feeds a frozen projection whose input gradient is exact: dL/dx = 1·W for L = sum(x·Wᵀ)', async () => {
    const q = quantized([6, 64], {}, 9);
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2, 64]);
    const y = g.gemm(x, dequantize4bitInGraph(g, 'w', q), undefined, { transB: true }); // [2, 6]
    const loss = g.reduceSum(y, [0, 1]);
    const [dx] = gradients(g, loss, [x]);
    g.output('dx', dx!);
    const session = await GraphSession.create(serializeModel(g), {
      disabledOptimizers: ['ConstantFolding'],
      intraOpThreads: 1,
    });
    const out = await session.run({
      x: { dtype: 'float32', dims: [2, 64], data: gaussian(128, 3) },
    });
    await session.close();
    const w = dequantizeTensor(q).data;
    const expected = new Float32Array(128);
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 64; c++) {
        let s = 0;
        for (let o = 0; o < 6; o++) s += w[o * 64 + c]!;
        expected[r * 64 + c] = s;
      }
    }
    const got = out['dx']?.data as Float32Array;
    for (let i = 0; i < 128; i++) expect(got[i]).toBeCloseTo(expected[i]!, 6);
  });
});
