import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingEngine } from '../train/training-engine.js';
import { tokenBatchFromRows } from '../grads/token-batch.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { createLlamaEngine } from './llama-engine.js';
import { loadLlamaModel, type LlamaModel } from './llama-model.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const missing = existsSync(stories) ? '' : `${stories} is absent`;
if (missing) console.warn(`skipping engine tests: ${missing}`);

describe.skipIf(missing !== '')('LoRA dropout in the engine', () => {
  let model: LlamaModel;
  let engine: TrainingEngine;
  const lora = createLoraConfig({
    r: 4,
    alpha: 8,
    dropout: 0.3,
    targetModules: ['q_proj', 'up_proj'],
  });
  const row = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376];
  const batch = tokenBatchFromRows([row], [row]);
  beforeAll(async () => {
    model = await loadLlamaModel(stories);
    engine = await createLlamaEngine(
      model,
      { method: 'lora', lora },
      { session: { intraOpThreads: 1 } },
    );
  });
  afterAll(async () => {
    await engine.close();
  });
  const values = (bScale: number): Map<string, Float32Array> =>
    new Map(
      [...initLoraTensors(model.config, lora, SeededRandom.fromSeed(1))].map(([name, t]) => [
        name,
        name.includes('lora_B')
          ? SeededRandom.fromSeed(2).split(name).uniformArray(t.data.length, -bScale, bScale)
          : t.data,
      ]),
    );

  it('drops only the adapter branch: with B = 0 the loss is the no-dropout loss whatever the seed', async () => {
    const zeroB = values(0);
    const plain = await engine.lossSum(batch, zeroB);
    const a = await engine.step(batch, 1, zeroB, 1);
    const b = await engine.step(batch, 1, zeroB, 2);
    expect(a.loss).toBeCloseTo(plain, 4);
    expect(b.loss).toBeCloseTo(plain, 4);
    // B's gradient sees the dropped inputs, so it depends on the seed.
    const name = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';
    expect(Array.from(a.grads.get(name) ?? [])).not.toEqual(Array.from(b.grads.get(name) ?? []));
  });

  it('is a function of the seed: same seed, same loss and gradients; another seed, another loss', async () => {
    const trained = values(0.3);
    const [a, again, other] = [
      await engine.step(batch, 1, trained, 7),
      await engine.step(batch, 1, trained, 7),
      await engine.step(batch, 1, trained, 8),
    ];
    expect(again.loss).toBe(a.loss);
    for (const [name, g] of a.grads)
      expect(Array.from(again.grads.get(name) ?? [])).toEqual(Array.from(g));
    expect(other.loss).not.toBe(a.loss);
    // Evaluation never drops: lossSum equals a step with every mask at one, i.e. the plain model.
    expect(await engine.lossSum(batch, trained)).not.toBe(a.loss);
  });
});
