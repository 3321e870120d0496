import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlamaModel, type LlamaModel } from '../model/llama-model.js';
import { TextGenerator } from './text-generator.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const missing = existsSync(stories) ? '' : `${stories} is absent`;
if (missing) console.warn(`skipping generation tests on stories260K: ${missing}`);

describe.skipIf(missing !== '')('TextGenerator on stories260K', () => {
  let model: LlamaModel;
  let generator: TextGenerator;
  beforeAll(async () => {
    model = await loadLlamaModel(stories);
    generator = await TextGenerator.create(model, { threads: 1 });
  });
  afterAll(async () => {
    await generator.close();
  });

  it('reproduces the 256 greedy tokens of llama2.c exactly', async () => {
    const golden = JSON.parse(await readFile(join(stories, 'golden_greedy_256.json'), 'utf8')) as {
      prompt_token_ids: number[];
      generated_token_ids: number[];
    };
    const result = await generator.generate(golden.prompt_token_ids, {
      maxNewTokens: 256,
      sampling: { greedy: true },
      stopTokenIds: [1, 2],
    });
    expect(result.tokenIds).toEqual(golden.generated_token_ids);
    expect(result.stopReason).toBe('max-new-tokens');
  });

  it('gives the same tokens with the cache as recomputing the whole prefix each step', async () => {
    const prompt = [1, 403, 407, 261];
    const cached = await generator.generate(prompt, {
      maxNewTokens: 6,
      sampling: { greedy: true },
    });
    // Without a cache: each step is a fresh prompt of everything so far, one new token.
    const recomputed: number[] = [];
    for (let i = 0; i < 6; i++) {
      const step = await generator.generate([...prompt, ...recomputed], {
        maxNewTokens: 1,
        sampling: { greedy: true },
      });
      recomputed.push(...step.tokenIds);
    }
    expect(cached.tokenIds).toEqual(recomputed);
  });

  it('samples reproducibly from a seed and stops at a stop token', async () => {
    const opts = {
      maxNewTokens: 40,
      sampling: { temperature: 1.0, topP: 0.9, topK: 50 },
      seed: 11,
    };
    const a = await generator.generate([1], opts);
    const b = await generator.generate([1], opts);
    const c = await generator.generate([1], { ...opts, seed: 12 });
    expect(a.tokenIds).toEqual(b.tokenIds);
    expect(a.tokenIds).not.toEqual(c.tokenIds);
    const stopAt = a.tokenIds[3] ?? -1;
    const stopped = await generator.generate([1], { ...opts, stopTokenIds: [stopAt] });
    expect(stopped.stopReason).toBe('stop-token');
    expect(stopped.tokenIds).toEqual(a.tokenIds.slice(0, a.tokenIds.indexOf(stopAt)));
  });

  it('rejects prompts outside the vocabulary and past the context', async () => {
    await expect(generator.generate([1, 9999], { maxNewTokens: 1 })).rejects.toThrow(
      'prompt token 9999 is outside the vocabulary (512 ids)',
    );
    await expect(generator.generate([1], { maxNewTokens: 600 })).rejects.toThrow(
      "prompt of 1 tokens plus 600 new tokens exceeds the model's 512 positions",
    );
  });
});
