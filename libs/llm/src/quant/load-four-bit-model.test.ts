import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from '../config/llama-config.js';
import { parameterShapes } from '../model/llama-model.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { writeSafetensors } from '../safetensors/write-safetensors.js';
import { loadFourBitModel } from './load-four-bit-model.js';
import { createQuantConfig } from './quant-config.js';
import { dequantizeTensor, quantizeTensor } from './quantized-tensor.js';
import { quantizeModelDir } from './quantize-model-dir.js';
import { gaussian, tempDir } from './test-models.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 40,
  max_position_embeddings: 32,
  tie_word_embeddings: true,
};

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A one-layer Llama directory with random weights; `patch` edits a tensor before writing. */
async function writeModel(
  config: Record<string, unknown> = CONFIG,
  patch?: (name: string, data: Float32Array) => void,
): Promise<{ dir: string; weights: Map<string, Float32Tensor> }> {
  const dir = await tempDir('four-bit');
  dirs.push(dir);
  const weights = new Map<string, Float32Tensor>();
  let seed = 1;
  for (const [name, shape] of parameterShapes(parseLlamaConfig(CONFIG, 'test'))) {
    const data = gaussian(
      shape.reduce((a, d) => a * d, 1),
      seed++,
    );
    patch?.(name, data);
    weights.set(name, { shape, data });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  await writeSafetensors(join(dir, 'model.safetensors'), weights);
  return { dir, weights };
}

describe('loadFourBitModel', () => {
  it('quantizes the projections of an fp32 directory on load, keeping the rest fp32', async () => {
    const { dir, weights } = await writeModel();
    const { model, quant, source } = await loadFourBitModel(dir);
    expect(source).toBe('quantized-on-load');
    expect(quant).toMatchObject({ scheme: 'nf4', blockSize: 64, doubleQuant: true });
    expect([...model.quantized.keys()].sort()).toEqual(
      [...weights.keys()].filter((n) => n.endsWith('_proj.weight')).sort(),
    );
    expect([...model.weights.keys()].sort()).toEqual([
      'model.embed_tokens.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.post_attention_layernorm.weight',
      'model.norm.weight',
    ]);
    const name = 'model.layers.0.mlp.down_proj.weight';
    const expected = quantizeTensor(name, weights.get(name)!, createQuantConfig({}));
    expect(dequantizeTensor(model.quantized.get(name)!).data).toEqual(
      dequantizeTensor(expected).data,
    );
  });

  it('reads a bnb-4bit directory as stored and refuses a scheme or block size it was not stored with', async () => {
    const { dir } = await writeModel();
    const out = join(dir, 'nf4-128');
    await quantizeModelDir(dir, out, createQuantConfig({ blockSize: 128, doubleQuant: false }));
    const { model, quant, source } = await loadFourBitModel(out);
    expect(source).toBe('bnb-4bit');
    expect(quant).toMatchObject({ scheme: 'nf4', blockSize: 128, doubleQuant: false });
    expect(model.quantized.size).toBe(7);
    await expect(loadFourBitModel(out, { blockSize: 64 })).rejects.toThrow(
      /stored with block size 128 .*asked for 64; pass --quant-block-size 128/,
    );
    await expect(loadFourBitModel(out, { scheme: 'fp4' })).rejects.toThrow(
      /stored with scheme nf4/,
    );
  });

  it('refuses a tensor with NaN or Inf, naming it', async () => {
    const { dir } = await writeModel(CONFIG, (name, data) => {
      if (name === 'model.layers.0.self_attn.k_proj.weight') data[17] = Number.NaN;
    });
    await expect(loadFourBitModel(dir)).rejects.toThrow(
      /tensor "model.layers.0.self_attn.k_proj.weight": element 17 is NaN; refusing to quantize/,
    );
    const inf = await writeModel(CONFIG, (name, data) => {
      if (name === 'model.layers.0.mlp.up_proj.weight') data[3] = Number.POSITIVE_INFINITY;
    });
    await expect(loadFourBitModel(inf.dir)).rejects.toThrow(
      /tensor "model.layers.0.mlp.up_proj.weight": element 3 is Infinity/,
    );
  });

  it('refuses a non-Llama model and the int8 scheme', async () => {
    const { dir } = await writeModel({ ...CONFIG, architectures: ['GPT2LMHeadModel'] });
    await expect(loadFourBitModel(dir)).rejects.toThrow(/unknown architecture .*GPT2LMHeadModel/);
    await expect(loadFourBitModel(dir, { scheme: 'int8' })).rejects.toThrow(
      /scheme must be nf4 or fp4, not int8/,
    );
  });
});
