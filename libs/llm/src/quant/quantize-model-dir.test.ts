import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLlamaModel } from '../model/llama-model.js';
import { readSafetensors } from '../safetensors/read-safetensors.js';
import { encodeSafetensors } from '../safetensors/write-safetensors.js';
import {
  loadModelForInference,
  loadQuantizedModel,
  readQuantizedWeights,
} from './load-quantized-model.js';
import { createQuantConfig } from './quant-config.js';
import { dequantizeTensor, quantizeTensor } from './quantized-tensor.js';
import { quantizeModelDir } from './quantize-model-dir.js';
import { stories260kDir } from './reference-runner.js';
import { gaussian, tempDir, writeRandomModel } from './test-models.js';

describe('quantizeModelDir', () => {
  it('writes the bitsandbytes layout and config, and the loader restores exactly what was stored', async () => {
    const src = await tempDir('src');
    const original = await writeRandomModel(src);
    const out = await tempDir('out');
    const report = await quantizeModelDir(src, out, createQuantConfig());
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    expect(config['quantization_config']).toMatchObject({
      quant_method: 'bitsandbytes',
      load_in_4bit: true,
      bnb_4bit_quant_type: 'nf4',
      bnb_4bit_use_double_quant: true,
    });
    const stored = await readSafetensors(join(out, 'model.safetensors')).catch((e: unknown) => e);
    // M's fp32 reader refuses the U8 entries: the quantized file is not silently misread as fp32.
    expect(String(stored)).toContain('has dtype U8');
    const restored = await readQuantizedWeights(out);
    expect([...restored.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [name, tensor] of original) {
      const expected = report.keptTensors.includes(name)
        ? tensor
        : dequantizeTensor(quantizeTensor(name, tensor, createQuantConfig()));
      expect(restored.get(name)?.shape, name).toEqual(tensor.shape);
      expect(restored.get(name)?.data, name).toEqual(expected.data);
    }
    expect([...report.keptTensors].sort()).toEqual(['embed_tokens.weight', 'norm.weight']);
    const big = report.tensors.find((t) => t.name === 'c.down_proj.weight');
    // 4 bits + 8 bits per 64 + fixed maps and state over 39300 weights.
    expect(big?.bitsPerParameter).toBeGreaterThan(4.125);
    expect(big?.bitsPerParameter).toBeLessThan(4.4);
    expect(big?.snrDb).toBeGreaterThan(18);
  });

  it('refuses to quantize an already quantized model, and a tensor with NaN by name', async () => {
    const src = await tempDir('src');
    await writeRandomModel(src);
    const out = await tempDir('out');
    await quantizeModelDir(src, out, createQuantConfig());
    await expect(
      quantizeModelDir(out, await tempDir('again'), createQuantConfig()),
    ).rejects.toThrow(
      /is already quantized \(config.json has quantization_config "bitsandbytes" nf4\)/,
    );
    // Without the config entry the state tensors still give it away.
    await writeFile(join(out, 'config.json'), '{}');
    await expect(
      quantizeModelDir(out, await tempDir('again'), createQuantConfig()),
    ).rejects.toThrow(/is already quantized \(tensor ".*" is bitsandbytes quantization state\)/);
    const bad = await tempDir('nan');
    const data = gaussian(64, 1);
    data[5] = Infinity;
    await writeFile(join(bad, 'config.json'), '{}');
    await writeFile(
      join(bad, 'model.safetensors'),
      encodeSafetensors(new Map([['x.gate_proj.weight', { shape: [8, 8], data }]])),
    );
    const badOut = await tempDir('nan-out');
    await expect(quantizeModelDir(bad, badOut, createQuantConfig())).rejects.toThrow(
      'tensor "x.gate_proj.weight": element 5 is Infinity',
    );
    expect(await readdir(badOut)).toEqual([]); // no half-written file left behind
  });

  it('quantizes a sharded model shard by shard and writes its index', async () => {
    const src = await tempDir('sharded');
    const tensors = await writeRandomModel(src);
    const names = [...tensors.keys()];
    const shards = [names.slice(0, 4), names.slice(4)];
    const weightMap: Record<string, string> = {};
    for (const [i, part] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeFile(
        join(src, file),
        encodeSafetensors(new Map(part.map((n) => [n, tensors.get(n)!]))),
      );
      for (const n of part) weightMap[n] = file;
    }
    await writeFile(
      join(src, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const { rm } = await import('node:fs/promises');
    await rm(join(src, 'model.safetensors'));
    const out = await tempDir('sharded-out');
    await quantizeModelDir(src, out, createQuantConfig({ scheme: 'int8' }));
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map: Record<string, string>;
    };
    expect(index.weight_map['c.down_proj.SCB']).toBe('model-00001-of-00002.safetensors');
    expect(index.weight_map['f.v_proj.weight']).toBe('model-00002-of-00002.safetensors');
    const restored = await readQuantizedWeights(out);
    const w = restored.get('c.down_proj.weight')!.data;
    const orig = tensors.get('c.down_proj.weight')!.data;
    let maxErr = 0;
    for (let i = 0; i < w.length; i++) maxErr = Math.max(maxErr, Math.abs(w[i]! - orig[i]!));
    expect(maxErr).toBeLessThan(0.1 / 254); // |w| < 0.1 here; half an int8 step per row at most
  });

  it('stories260K loads back as a LlamaModel with dequantized projections and fp32 everything else', async (ctx) => {
    const dir = stories260kDir();
    if (dir === undefined) return ctx.skip('../shared/models/stories260K is absent');
    const out = await tempDir('stories');
    const report = await quantizeModelDir(dir, out, createQuantConfig());
    expect([...report.keptTensors].sort()).toEqual(
      [
        ...Array.from({ length: 5 }, (_, l) => [
          `model.layers.${l}.input_layernorm.weight`,
          `model.layers.${l}.post_attention_layernorm.weight`,
        ]).flat(),
        'model.embed_tokens.weight',
        'model.norm.weight',
      ].sort(),
    );
    const base = await loadLlamaModel(dir);
    const q = await loadQuantizedModel(out);
    expect(q.config).toEqual(base.config);
    expect([...q.weights.keys()].sort()).toEqual([...base.weights.keys()].sort());
    expect(q.weights.get('model.embed_tokens.weight')?.data).toEqual(
      base.weights.get('model.embed_tokens.weight')?.data,
    );
    const name = 'model.layers.2.mlp.up_proj.weight';
    const expected = dequantizeTensor(
      quantizeTensor(name, base.weights.get(name)!, createQuantConfig()),
    );
    expect(q.weights.get(name)?.data).toEqual(expected.data);
    // The inference loader picks the right reader by the directory's config.
    expect((await loadModelForInference(out)).weights.get(name)?.data).toEqual(expected.data);
    expect((await loadModelForInference(dir)).weights.get(name)?.data).toEqual(
      base.weights.get(name)?.data,
    );
  });
});
