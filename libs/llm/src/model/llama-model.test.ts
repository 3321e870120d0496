import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadLlamaModel, parameterShapes } from './llama-model.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const missing = existsSync(stories) ? '' : `${stories} is absent`;
if (missing) console.warn(`skipping model loading tests: ${missing}`);

describe.skipIf(missing !== '')('loadLlamaModel', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('loads stories260K: GQA 8/4, head_dim 8, tied embedding, every weight checked', async () => {
    const model = await loadLlamaModel(stories);
    expect(model.config).toMatchObject({
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      tieWordEmbeddings: true,
      numLayers: 5,
    });
    expect([...model.weights.keys()].sort()).toEqual(
      [...parameterShapes(model.config).keys()].sort(),
    );
    expect(model.weights.get('model.layers.0.self_attn.k_proj.weight')?.shape).toEqual([32, 64]);
  });

  it('names the weights file and the tensor whose shape disagrees with config.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-model-'));
    dirs.push(dir);
    await cp(stories, dir, { recursive: true });
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ ...config, intermediate_size: 170 }),
    );
    await expect(loadLlamaModel(dir)).rejects.toThrow(
      `${join(dir, 'model.safetensors')}: tensor "model.layers.0.mlp.gate_proj.weight" has shape [172, 64], config.json implies [170, 64]`,
    );
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 6 }));
    await expect(loadLlamaModel(dir)).rejects.toThrow(
      'missing tensor "model.layers.5.input_layernorm.weight" required by config.json',
    );
  });
});
