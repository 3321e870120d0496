import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PROJECTIONS,
  SeededRandom,
  createLoraConfig,
  initLoraTensors,
  loadLlamaModel,
  readSafetensors,
  saveLoraAdapter,
} from '@lathe/llm';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const REFERENCE = join(REPO_ROOT, 'libs/llm/test/llama-reference.py');
const PYTHON = '/usr/bin/python3';

function unavailable(): string {
  if (!existsSync(MODEL)) return `shared model not found at ${MODEL}`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return probe.status === 0
    ? ''
    : `${PYTHON} cannot import torch: ${(probe.stderr || 'not found').trim().split('\n').pop() ?? ''}`;
}
const skip = unavailable();
if (skip !== '') console.warn(`skipping lathe grads tests: ${skip}`);

/** ‖a − b‖ / ‖b‖. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let ref = 0;
  a.forEach((v, i) => {
    diff += (v - (b[i] ?? 0)) ** 2;
    ref += (b[i] ?? 0) ** 2;
  });
  return Math.sqrt(diff / ref);
}

describe.skipIf(skip !== '')('lathe grads', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-grads-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the adapter gradients under PEFT names with the loss, matching PyTorch within 1e-4', async () => {
    const model = await loadLlamaModel(MODEL);
    const lora = createLoraConfig({ r: 8, alpha: 16, targetModules: [...PROJECTIONS] });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(3));
    for (const [name, t] of tensors) {
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(4).split(name).uniformArray(t.data.length, -0.05, 0.05));
    }
    const adapter = join(dir, 'adapter');
    await saveLoraAdapter(adapter, { config: lora, baseModel: MODEL, tensors });
    // The labels form: prompt tokens masked with -100, as an SFT batch would be.
    const tokens = join(dir, 'tokens.json');
    await writeFile(
      tokens,
      JSON.stringify({
        input_ids: [
          [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315],
          [1, 403, 407, 261, 378, 0, 0, 0, 0, 0, 0, 0],
        ],
        labels: [
          [-100, -100, -100, 261, 378, 432, 383, 286, 261, 376, 298, 315],
          [-100, 403, 407, 261, 378, -100, -100, -100, -100, -100, -100, -100],
        ],
      }),
    );
    const out = join(dir, 'grads.safetensors');
    const r = await runLathe([
      'grads',
      '--model',
      MODEL,
      '--adapter',
      adapter,
      '--tokens',
      tokens,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/over 13 target tokens; 70 gradients/);
    const ref = join(dir, 'ref.safetensors');
    const py = spawnSync(
      PYTHON,
      [REFERENCE, '--model', MODEL, '--adapter', adapter, '--tokens', tokens, '--out', ref],
      { encoding: 'utf8' },
    );
    expect(py.status, py.stderr).toBe(0);
    const [ours, theirs] = await Promise.all([readSafetensors(out), readSafetensors(ref)]);
    expect(ours.metadata['tokens']).toBe('13');
    expect(
      Math.abs(Number(ours.metadata['loss']) / Number(theirs.metadata['loss']) - 1),
    ).toBeLessThan(1e-5);
    expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
    expect([...ours.tensors.keys()]).toContain(
      'base_model.model.model.layers.4.mlp.down_proj.lora_B.weight',
    );
    for (const [name, t] of ours.tensors) {
      expect(
        relativeError(t.data, theirs.tensors.get(name)?.data ?? new Float32Array()),
        name,
      ).toBeLessThan(1e-4);
    }
  });

  it('names the tokens file and the bad entry', async () => {
    const tokens = join(dir, 'bad.json');
    await writeFile(tokens, '[[1, 2, 9000]]');
    const r = await runLathe([
      'grads',
      '--model',
      MODEL,
      '--tokens',
      tokens,
      '--out',
      join(dir, 'x.safetensors'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `lathe: ${tokens}: tokens[0][2] must be a token id in [0, 512), got 9000`,
    );
  });
});
