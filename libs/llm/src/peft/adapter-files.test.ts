import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readLlamaConfig } from '../config/llama-config.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { loadLoraAdapter, saveLoraAdapter } from './adapter-files.js';
import { createLoraConfig } from './lora-config.js';
import { initLoraTensors } from './lora-init.js';

const MODEL = fileURLToPath(new URL('../../../../../shared/models/stories260K', import.meta.url));
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping PEFT adapter tests: ${missing}`);

describe('createLoraConfig', () => {
  it('fills PEFT defaults, orders modules, computes the scaling', () => {
    const c = createLoraConfig({ r: 4, alpha: 8, targetModules: ['v_proj', 'q_proj'] });
    expect(c).toEqual({
      r: 4,
      alpha: 8,
      dropout: 0,
      targetModules: ['q_proj', 'v_proj'],
      useRslora: false,
      scaling: 2,
    });
    expect(createLoraConfig({ r: 4, alpha: 8, useRslora: true }).scaling).toBe(4);
  });
  it('rejects bad fields by name', () => {
    expect(() => createLoraConfig({ r: 0 })).toThrow(/LoRA r must be/);
    expect(() => createLoraConfig({ targetModules: ['qkv' as 'q_proj'] })).toThrow(
      /"qkv" is not one of/,
    );
    expect(() => createLoraConfig({ dropout: 1 })).toThrow(/dropout/);
  });
});

describe.skipIf(missing !== '')('PEFT adapter files', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes the PEFT layout and reads back identical tensors', async () => {
    const model = await readLlamaConfig(join(MODEL, 'config.json'));
    const lora = createLoraConfig({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] });
    const tensors = initLoraTensors(model, lora, SeededRandom.fromSeed(1));
    // B is zero at init; give it values so the round trip checks real data.
    for (const [name, t] of tensors)
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(2).uniformArray(t.data.length, -1, 1));
    const dir = await mkdtemp(join(tmpdir(), 'lathe-peft-'));
    dirs.push(dir);
    await saveLoraAdapter(dir, { config: lora, baseModel: MODEL, tensors });
    const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'],
      bias: 'none',
    });
    const back = await loadLoraAdapter(dir, model);
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    expect(
      back.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')?.shape,
    ).toEqual([4, 64]);
    expect(
      back.tensors.get('base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight')?.shape,
    ).toEqual([32, 4]);
    for (const [name, t] of tensors) expect(back.tensors.get(name)?.data).toEqual(t.data);
    expect(back.config).toEqual(lora);
  });

  it('initialises A like nn.Linear (bound 1/sqrt(in)) and B with zeros, deterministically', async () => {
    const model = await readLlamaConfig(join(MODEL, 'config.json'));
    const lora = createLoraConfig({ r: 8, targetModules: ['q_proj'] });
    const t1 = initLoraTensors(model, lora, SeededRandom.fromSeed(3));
    const t2 = initLoraTensors(model, lora, SeededRandom.fromSeed(3));
    const a = t1.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!;
    expect(Math.max(...a.data.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...a.data.map(Math.abs))).toBeGreaterThan(0.1);
    expect(t2.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')?.data).toEqual(
      a.data,
    );
    expect(
      t1
        .get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')
        ?.data.every((v) => v === 0),
    ).toBe(true);
  });

  it('rejects adapters it cannot apply, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-peft-'));
    dirs.push(dir);
    await writeFile(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: 'q_proj|v_proj' }),
    );
    await expect(loadLoraAdapter(dir)).rejects.toThrow(
      /adapter_config\.json: target_modules must be a list/,
    );
    await writeFile(join(dir, 'adapter_config.json'), '{ nope');
    await expect(loadLoraAdapter(dir)).rejects.toThrow(/adapter_config\.json: not valid JSON/);
  });
});
