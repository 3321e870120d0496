import { readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GraphBuilder } from '@lathe/graph';
import { describe, expect, it } from 'vitest';
import { ExternalWeights, ModelFolder } from './external-weights.js';

describe('ExternalWeights', () => {
  it('gives a name registered again the same place, so graphs of one model share one file', () => {
    const weights = new ExternalWeights();
    const a = weights.add('a', new Float32Array(4));
    const b = weights.add('b', new Uint8Array(3));
    expect(weights.add('a', new Float32Array(4))).toBe(a);
    expect(b.offset).toBe(16);
    expect(weights.byteLength).toBe(19);
    expect(() => weights.add('a', new Float32Array(2))).toThrow(
      'external weight "a" registered with 16 bytes, now 8',
    );
  });

  it('writes one model file per graph beside the one weights file, until removed', async () => {
    const weights = new ExternalWeights();
    const graph = (): GraphBuilder => {
      const g = new GraphBuilder();
      const w = g.initializer('w', 'float32', [2], weights.add('w', Float32Array.from([1, 2])));
      g.output('y', g.mul(g.input('x', 'float32', [2]), w));
      return g;
    };
    const folder = await ModelFolder.write({ train: graph(), eval: graph() }, weights);
    const dir = dirname(folder.path('train'));
    expect((await readdir(dir)).sort()).toEqual(['eval.onnx', 'train.onnx', 'weights.bin']);
    expect((await stat(folder.path('eval'))).size).toBeGreaterThan(0);
    expect((await stat(`${dir}/weights.bin`)).size).toBe(8);
    await folder.remove();
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });
});
