import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLlamaModel, mergeLoraWeights } from '@lathe/llm';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';
import { saveRandomAdapter } from '../../test/random-adapter.js';
import { literal, useTempDirs } from '../../test/temp-dirs.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping lathe merge tests: ${missing}`);

describe.skipIf(missing !== '')('lathe merge', () => {
  const tempDir = useTempDirs('lathe-merge-');

  it('writes a loadable Hugging Face model whose weights are W + (alpha/r) B A', async () => {
    const dir = await tempDir();
    const base = await loadLlamaModel(MODEL);
    const { adapterDir, adapter } = await saveRandomAdapter(
      base,
      MODEL,
      dir,
      ['q_proj', 'up_proj'],
      1,
    );
    const out = join(dir, 'merged');
    const r = await runLathe(['merge', '--model', MODEL, '--adapter', adapterDir, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/10 weights changed/);
    expect((await readdir(out)).sort()).toEqual(
      expect.arrayContaining([
        'config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]),
    );
    const merged = await loadLlamaModel(out);
    const expected = mergeLoraWeights(base, adapter);
    expect([...merged.weights.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, t] of expected) expect(merged.weights.get(name)?.data).toEqual(t.data);
    expect(merged.weights.get('model.layers.3.mlp.up_proj.weight')?.data).not.toEqual(
      base.weights.get('model.layers.3.mlp.up_proj.weight')?.data,
    );
  });

  it('fails in one line naming the adapter file that does not fit the model', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }),
    );
    const r = await runLathe([
      'merge',
      '--model',
      MODEL,
      '--adapter',
      dir,
      '--out',
      join(dir, 'out'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^lathe: ${literal(dir)}/adapter_model\\.safetensors: cannot read: .*\\n$`),
    );
  });
});
