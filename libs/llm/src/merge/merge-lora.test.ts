import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadLlamaModel } from '../model/llama-model.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { mergeLoraWeights } from './merge-lora.js';

const MODEL = fileURLToPath(new URL('../../../../../shared/models/stories260K', import.meta.url));
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
const torchProbe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
const noTorch = torchProbe.status === 0 ? '' : 'no torch in /usr/bin/python3';
if (missing !== '' || noTorch !== '')
  console.warn(`skipping merge check against torch: ${missing || noTorch}`);

describe.skipIf(missing !== '' || noTorch !== '')('mergeLoraWeights', () => {
  it('equals W + (alpha/r) B@A computed by torch, and leaves other weights alone', async () => {
    const model = await loadLlamaModel(MODEL);
    const lora = createLoraConfig({ r: 4, alpha: 12, targetModules: ['k_proj', 'down_proj'] });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(5));
    for (const [name, t] of tensors)
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(6).split(name).uniformArray(t.data.length, -0.5, 0.5));
    const merged = mergeLoraWeights(model, { config: lora, baseModel: MODEL, tensors });
    for (const module of ['model.layers.2.self_attn.k_proj', 'model.layers.4.mlp.down_proj']) {
      const w = model.weights.get(`${module}.weight`)!;
      const a = tensors.get(`base_model.model.${module}.lora_A.weight`)!;
      const b = tensors.get(`base_model.model.${module}.lora_B.weight`)!;
      const script = `
import json, sys, torch
d = json.load(sys.stdin)
W = torch.tensor(d["w"], dtype=torch.float64).reshape(d["ws"])
A = torch.tensor(d["a"], dtype=torch.float64).reshape(d["as"])
B = torch.tensor(d["b"], dtype=torch.float64).reshape(d["bs"])
print(json.dumps((W + 3.0 * (B @ A)).flatten().tolist()))
`;
      const out = spawnSync('/usr/bin/python3', ['-c', script], {
        input: JSON.stringify({
          w: Array.from(w.data),
          ws: w.shape,
          a: Array.from(a.data),
          as: a.shape,
          b: Array.from(b.data),
          bs: b.shape,
        }),
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
      expect(out.status, out.stderr).toBe(0);
      const expected = JSON.parse(out.stdout) as number[];
      const got = merged.get(`${module}.weight`)!.data;
      let maxErr = 0;
      got.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - (expected[i] ?? NaN)))));
      expect(maxErr).toBeLessThan(1e-6);
    }
    expect(merged.get('model.layers.0.self_attn.q_proj.weight')).toBe(
      model.weights.get('model.layers.0.self_attn.q_proj.weight'),
    );
  });
});
