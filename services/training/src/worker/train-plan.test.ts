import { describe, expect, it } from 'vitest';
import { DpoLoss, JobSpec, LrSchedule, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { dpoTrainOptions, sftTrainOptions, UnsupportedSpecError } from './train-plan.js';

const paths = { modelDir: '/m', dataPath: '/d/train.jsonl', outDir: '/o' };
const defaults = { checkpointEvery: 25 };

describe('sftTrainOptions', () => {
  it('fills the contract’s documented defaults for a bare LoRA spec', () => {
    const o = sftTrainOptions(JobSpec.fromPartial({ method: Method.METHOD_LORA }), paths, defaults);
    expect(o).toMatchObject({
      method: 'lora',
      batchSize: 8,
      gradAccum: 1,
      seqLen: 512,
      decay: 'cosine',
      seed: 0,
      checkpointEvery: 25,
      keepCheckpoints: 0,
      lora: {
        r: 8,
        alpha: 16,
        dropout: 0.05,
        targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
      },
    });
    expect(o.maxSteps).toBeUndefined();
    expect(o.evalDataPath).toBeUndefined();
  });

  it('maps hyperparameters, warmup ratio, QLoRA quantization and intermediate evaluation', () => {
    const o = sftTrainOptions(
      JobSpec.fromPartial({
        method: Method.METHOD_QLORA,
        hyperparameters: {
          learningRate: 1e-3,
          length: { $case: 'maxSteps', maxSteps: 40 },
          warmup: { $case: 'warmupRatio', warmupRatio: 0.1 },
          schedule: LrSchedule.LR_SCHEDULE_LINEAR,
          checkpointEverySteps: 5,
          evalEverySteps: 10,
          seed: 9,
        },
        qlora: { blockSize: 128, doubleQuant: false },
      }),
      { ...paths, evalDataPath: '/d/eval.jsonl' },
      defaults,
    );
    expect(o).toMatchObject({
      method: 'qlora',
      lr: 1e-3,
      maxSteps: 40,
      warmupSteps: 4,
      decay: 'linear',
      checkpointEvery: 5,
      evalEvery: 10,
      evalDataPath: '/d/eval.jsonl',
      seed: 9,
      quant: { scheme: 'nf4', blockSize: 128, doubleQuant: false },
    });
  });

  it('refuses what the trainer cannot honour, naming the field', () => {
    const refuse = (spec: Partial<JobSpec>, field: string): void => {
      try {
        sftTrainOptions(JobSpec.fromPartial(spec), paths, defaults);
        expect.unreachable(`accepted ${field}`);
      } catch (e) {
        expect(e).toBeInstanceOf(UnsupportedSpecError);
        expect((e as UnsupportedSpecError).field).toBe(field);
      }
    };
    refuse({ method: Method.METHOD_DPO }, 'method');
    refuse(
      {
        method: Method.METHOD_LORA,
        hyperparameters: { length: { $case: 'epochs', epochs: 0.5 } } as never,
      },
      'hyperparameters.epochs',
    );
    refuse(
      {
        method: Method.METHOD_LORA,
        hyperparameters: { warmup: { $case: 'warmupRatio', warmupRatio: 0.1 } } as never,
      },
      'hyperparameters.warmup_ratio',
    );
    refuse(
      { method: Method.METHOD_FULL, hyperparameters: { trainOnPrompt: true } as never },
      'hyperparameters.train_on_prompt',
    );
  });
});

describe('dpoTrainOptions', () => {
  it('maps the DPO settings with the contract defaults, and refuses the hinge loss', () => {
    const o = dpoTrainOptions(
      JobSpec.fromPartial({
        method: Method.METHOD_DPO,
        hyperparameters: { length: { $case: 'maxSteps', maxSteps: 3 } },
        dpo: { loss: DpoLoss.DPO_LOSS_IPO, beta: 0.5 },
      }),
      { ...paths, resumeFrom: '/r' },
      defaults,
    );
    expect(o).toMatchObject({
      method: 'lora',
      lr: 2e-4,
      batchSize: 8,
      maxSteps: 3,
      seed: 0,
      loss: { lossType: 'ipo', beta: 0.5, labelSmoothing: 0 },
      lora: { r: 8, alpha: 16 },
      // Checkpoints as for SFT: the worker's interval, all kept until uploaded, and the resume.
      checkpointEvery: 25,
      keepCheckpoints: 0,
      resumeFrom: '/r',
    });
    expect(() =>
      dpoTrainOptions(
        JobSpec.fromPartial({ method: Method.METHOD_DPO, dpo: { loss: DpoLoss.DPO_LOSS_HINGE } }),
        paths,
        defaults,
      ),
    ).toThrow(/dpo.loss/);
  });
});
