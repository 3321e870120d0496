import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelWeights } from './read-model-weights.js';
import { writeSafetensors } from './write-safetensors.js';

describe('readModelWeights', () => {
  let dir: string;
  const t = (values: number[]): { shape: number[]; data: Float32Array } => ({
    shape: [values.length],
    data: new Float32Array(values),
  });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-shards-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the shards a model.safetensors.index.json lists', async () => {
    const d = join(dir, 'ok');
    await mkdir(d);
    await writeSafetensors(
      join(d, 'model-00001-of-00002.safetensors'),
      new Map([['a', t([1, 2])]]),
    );
    await writeSafetensors(
      join(d, 'model-00002-of-00002.safetensors'),
      new Map([
        ['b', t([3])],
        ['c', t([4, 5, 6])],
      ]),
    );
    await writeFile(
      join(d, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 24 },
        weight_map: {
          a: 'model-00001-of-00002.safetensors',
          b: 'model-00002-of-00002.safetensors',
          c: 'model-00002-of-00002.safetensors',
        },
      }),
    );
    const w = await readModelWeights(d);
    expect([...w.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(w.get('c')?.data ?? [])).toEqual([4, 5, 6]);
  });

  it('refuses shard names that leave the directory and tensors missing from their shard', async () => {
    const d = join(dir, 'bad');
    await mkdir(d);
    const index = join(d, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ weight_map: { a: '../x' } }));
    await expect(readModelWeights(d)).rejects.toThrow(
      `${index}: weight_map["a"] must be a file name in the model directory`,
    );
    await writeSafetensors(join(d, 's.safetensors'), new Map([['a', t([1])]]));
    await writeFile(
      index,
      JSON.stringify({ weight_map: { a: 's.safetensors', z: 's.safetensors' } }),
    );
    await expect(readModelWeights(d)).rejects.toThrow(
      `${join(d, 's.safetensors')}: tensor "z" listed in ${index} is missing`,
    );
    await expect(readModelWeights(join(dir, 'nowhere'))).rejects.toThrow(
      'no model.safetensors or model.safetensors.index.json',
    );
  });
});
