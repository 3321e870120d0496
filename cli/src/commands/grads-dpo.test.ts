import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SeededRandom,
  createLoraConfig,
  initLoraTensors,
  loadLlamaModel,
  readSafetensors,
  saveLoraAdapter,
} from '@lathe/llm';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const skip = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (skip !== '') console.warn(`skipping lathe grads --objective dpo tests: ${skip}`);

describe.skipIf(skip !== '')('lathe grads --objective dpo', () => {
  let dir: string;
  let adapterTensors = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-grads-dpo-'));
    const model = await loadLlamaModel(MODEL);
    const lora = createLoraConfig({ r: 4, alpha: 8 });
    // PEFT's init: B = 0, so the policy equals the reference.
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(1));
    adapterTensors = tensors.size;
    await saveLoraAdapter(join(dir, 'adapter'), { config: lora, baseModel: MODEL, tensors });
    await writeFile(
      join(dir, 'pairs.json'),
      JSON.stringify([
        { prompt: [1, 403, 407], chosen: [261, 378, 432], rejected: [99, 12] },
        { prompt: [1, 300], chosen: [20, 21, 22, 23], rejected: [40], weight: 2 },
      ]),
    );
  }, 30_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints ln 2 and zero rewards for a zero-initialized adapter, and writes the gradients', async () => {
    const out = join(dir, 'grads.safetensors');
    const run = await runLathe([
      'grads',
      '--objective',
      'dpo',
      '--model',
      MODEL,
      '--adapter',
      join(dir, 'adapter'),
      '--pairs',
      join(dir, 'pairs.json'),
      '--beta',
      '0.2',
      '--out',
      out,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as Record<string, number>;
    expect(Math.abs((printed['loss'] ?? 0) - Math.LN2)).toBeLessThan(1e-6);
    for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies'])
      expect(printed[k], k).toBe(0);
    expect(printed['logps/chosen']).toBeLessThan(0);
    expect(printed['pairs']).toBe(2);
    const file = await readSafetensors(out);
    expect(file.tensors.size).toBe(adapterTensors);
    const b = [...file.tensors].find(([n]) => n.includes('lora_B'))?.[1].data ?? new Float32Array();
    expect(b.some((v) => v !== 0)).toBe(true);
    expect(JSON.parse(file.metadata['metrics'] ?? '{}')).toEqual(
      Object.fromEntries(Object.entries(printed).filter(([k]) => k === 'loss' || k.includes('/'))),
    );
  }, 60_000);

  it('refuses a bad loss (usage, exit 2) and a token outside the vocabulary (exit 1, one line)', async () => {
    const base = [
      'grads',
      '--objective',
      'dpo',
      '--model',
      MODEL,
      '--out',
      join(dir, 'x.safetensors'),
    ];
    const usage = await runLathe([...base, '--pairs', join(dir, 'pairs.json'), '--loss', 'hinge']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('loss: unknown DPO loss "hinge" (sigmoid or ipo)');
    await writeFile(
      join(dir, 'bad.json'),
      JSON.stringify([{ prompt: [1], chosen: [5000], rejected: [3] }]),
    );
    const bad = await runLathe([...base, '--pairs', join(dir, 'bad.json')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `lathe: ${join(dir, 'bad.json')}: pair 0: chosen[0] = 5000 is not a token id of this model (0..511)\n`,
    );
  }, 60_000);
});
