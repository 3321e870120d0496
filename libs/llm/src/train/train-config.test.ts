import { describe, expect, it } from 'vitest';
import { createTrainConfig, resumeFingerprint } from './train-config.js';

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
    expect(full.quant).toBeUndefined();
    expect(full.baseModelName).toBe('m');
  });

  it('fills QLoRA defaults: LoRA settings plus NF4, block 64, double quantization', () => {
    const qlora = createTrainConfig({ method: 'qlora', ...required });
    expect(qlora.lr).toBe(2e-4);
    expect(qlora.lora).toMatchObject({ r: 8, alpha: 16 });
    expect(qlora.quant).toEqual({
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: true,
      nestedBlockSize: 256,
    });
    const fp4 = createTrainConfig({
      method: 'qlora',
      ...required,
      quant: { scheme: 'fp4', blockSize: 128, doubleQuant: false },
      baseModelName: 'org/base',
    });
    expect(fp4.quant).toMatchObject({ scheme: 'fp4', blockSize: 128, doubleQuant: false });
    expect(fp4.baseModelName).toBe('org/base');
  });

  it('checkpoints activations by default for qlora only, and takes an explicit choice', () => {
    expect(createTrainConfig({ method: 'qlora', ...required }).gradientCheckpointing).toBe(true);
    expect(createTrainConfig({ method: 'lora', ...required }).gradientCheckpointing).toBe(false);
    expect(createTrainConfig({ method: 'full', ...required }).gradientCheckpointing).toBe(false);
    const off = { method: 'qlora', ...required, gradientCheckpointing: false } as const;
    expect(createTrainConfig(off).gradientCheckpointing).toBe(false);
    const on = { method: 'lora', ...required, gradientCheckpointing: true } as const;
    expect(createTrainConfig(on).gradientCheckpointing).toBe(true);
    expect(() =>
      createTrainConfig({ method: 'lora', ...required, gradientCheckpointing: 'yes' as never }),
    ).toThrow(/gradientCheckpointing must be true or false, got "yes"/);
  });

  it('keeps q/k/v in checkpointed layers by default, takes another policy, refuses unknown ones', () => {
    expect(createTrainConfig({ method: 'qlora', ...required }).checkpointPolicy).toBe('keep-qkv');
    const all = { method: 'qlora', ...required, checkpointPolicy: 'recompute-all' } as const;
    expect(createTrainConfig(all).checkpointPolicy).toBe('recompute-all');
    expect(() =>
      createTrainConfig({ method: 'qlora', ...required, checkpointPolicy: 'some' as never }),
    ).toThrow(
      /checkpointPolicy must be one of keep-qkv, keep-projections, recompute-all, got "some"/,
    );
  });

  it('rejects quantization options QLoRA cannot use, naming them', () => {
    expect(() =>
      createTrainConfig({ method: 'qlora', ...required, quant: { scheme: 'int8' } }),
    ).toThrow(/quant.scheme must be nf4 or fp4 for qlora/);
    expect(() =>
      createTrainConfig({ method: 'qlora', ...required, quant: { blockSize: 48 } }),
    ).toThrow(/quant.blockSize: unsupported block size 48/);
    expect(() =>
      createTrainConfig({ method: 'qlora', ...required, quant: { scheme: 'nf3' as 'nf4' } }),
    ).toThrow(/quant.scheme: unsupported quantization scheme "nf3"/);
    expect(() => createTrainConfig({ method: 'lora', ...required, quant: {} })).toThrow(
      /quant options given but method is "lora"/,
    );
  });

  it('adds the quantization to the resume fingerprint of qlora only (older lora checkpoints still resume)', () => {
    const lora = resumeFingerprint(createTrainConfig({ method: 'lora', ...required }), 'x', 3);
    expect(lora).not.toHaveProperty('quant');
    const qlora = resumeFingerprint(createTrainConfig({ method: 'qlora', ...required }), 'x', 3);
    expect(qlora['method']).toBe('qlora');
    expect(JSON.parse(String(qlora['quant']))).toMatchObject({ scheme: 'nf4', blockSize: 64 });
  });

  it('names the option that is wrong', () => {
    expect(() => createTrainConfig({ method: 'dora' as 'lora', ...required })).toThrow(
      /method must be "full", "lora" or "qlora", got "dora"/,
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
