import { describe, expect, it } from 'vitest';
import { createTrainConfig } from './train-config.js';

const required = { modelDir: 'm', dataPath: 'd.jsonl', outDir: 'o' };

describe('createTrainConfig', () => {
  it('fills documented defaults per method', () => {
    const lora = createTrainConfig({ method: 'lora', ...required });
    expect(lora).toMatchObject({
      lr: 2e-4,
      batchSize: 4,
      gradAccum: 1,
      seqLen: 256,
      seed: 42,
      maxGradNorm: 1,
      weightDecay: 0,
      epochs: 1,
      checkpointEvery: 50,
      pack: true,
    });
    expect(lora.lora).toMatchObject({ r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] });
    const full = createTrainConfig({ method: 'full', ...required });
    expect(full.lr).toBe(2e-5);
    expect(full.lora).toBeUndefined();
  });

  it('names the option that is wrong', () => {
    expect(() => createTrainConfig({ method: 'qlora' as 'lora', ...required })).toThrow(
      /method must be "full" or "lora"/,
    );
    expect(() => createTrainConfig({ method: 'lora', ...required, batchSize: 0 })).toThrow(
      /batchSize must be an integer >= 1, got 0/,
    );
    expect(() => createTrainConfig({ method: 'lora', ...required, lr: -1 })).toThrow(
      /lr must be > 0/,
    );
    expect(() => createTrainConfig({ method: 'full', ...required, lora: { r: 4 } })).toThrow(
      /method is "full"/,
    );
    expect(() => createTrainConfig({ method: 'lora', ...required, lora: { r: 0 } })).toThrow(
      /LoRA r must be/,
    );
    expect(() => createTrainConfig({ method: 'lora', ...required, outDir: '' })).toThrow(
      /outDir is required/,
    );
  });
});
