import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tokenBatchFromRows } from '../grads/token-batch.js';
import { mergeLoraWeights } from '../merge/merge-lora.js';
import { createLlamaEngine } from '../model/llama-engine.js';
import { loadLlamaModel, PROJECTIONS } from '../model/llama-model.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { DecoderSession } from './decoder-session.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const missing = existsSync(stories) ? '' : `${stories} is absent`;
if (missing) console.warn(`skipping adapter consistency test: ${missing}`);

describe.skipIf(missing !== '')('decoding with an adapter', () => {
  it('token by token through the KV cache on merged weights gives the training graph’s in-graph LoRA loss', async () => {
    const model = await loadLlamaModel(stories);
    const lora = createLoraConfig({ r: 4, alpha: 8, targetModules: [...PROJECTIONS] });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(1));
    for (const [name, t] of tensors) {
      if (name.includes('lora_B'))
        t.data.set(SeededRandom.fromSeed(2).split(name).uniformArray(t.data.length, -0.1, 0.1));
    }
    const row = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

    // Decoding path: adapter folded into the weights, one token per run, cache carried along.
    const session = await DecoderSession.create(
      {
        config: model.config,
        weights: mergeLoraWeights(model, { config: lora, baseModel: '', tensors }),
      },
      1,
    );
    let cache = session.emptyCache();
    let decodedNll = 0;
    for (let t = 0; t + 1 < row.length; t++) {
      const step = await session.forward([row[t] ?? 0], cache);
      cache = step.cache;
      const max = Math.max(...step.logits);
      const logSumExp = max + Math.log(step.logits.reduce((a, v) => a + Math.exp(v - max), 0));
      decodedNll += logSumExp - (step.logits[row[t + 1] ?? 0] ?? 0);
    }
    await session.close();

    // Training path: LoRA inside the graph, whole sequence at once, forward only.
    const engine = await createLlamaEngine(
      model,
      { method: 'lora', lora },
      { session: { intraOpThreads: 1 } },
    );
    const values = new Map([...tensors].map(([name, t]) => [name, t.data]));
    const lossSum = await engine.lossSum(tokenBatchFromRows([row], [row]), values);
    await engine.close();

    // Two fp32 computations in a different order: 1e-5 relative.
    expect(Math.abs(decodedNll - lossSum) / lossSum).toBeLessThan(1e-5);
    // The adapter must matter, or the comparison would not test it.
    const base = await createLlamaEngine(
      model,
      { method: 'lora', lora },
      { session: { intraOpThreads: 1 } },
    );
    const zeros = new Map(
      [...tensors].map(([name, t]) => [
        name,
        name.includes('lora_B') ? new Float32Array(t.data.length) : t.data,
      ]),
    );
    const baseLoss = await base.lossSum(tokenBatchFromRows([row], [row]), zeros);
    await base.close();
    expect(Math.abs(baseLoss - lossSum)).toBeGreaterThan(0.01);
  });
});
