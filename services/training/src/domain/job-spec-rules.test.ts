import {
  type Device,
  DpoLoss,
  JobSpec,
  LrSchedule,
  Method,
} from '@lathe/contracts/lathe/training/v1/job_spec';
import { describe, expect, it } from 'vitest';
import { specViolations } from './job-spec-rules.js';

const good = (over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({
    method: Method.METHOD_LORA,
    baseModel: { name: 'stories260k', selector: { $case: 'alias', alias: 'prod' } },
    dataset: { dataset: 'alpaca-tiny', version: 1 },
    ...over,
  });

const fields = (spec: JobSpec | undefined): string[] => specViolations(spec).map((v) => v.field);

describe('specViolations', () => {
  it('accepts a minimal spec and every documented default left unset', () => {
    expect(specViolations(good())).toEqual([]);
  });

  it('accepts values on the edges of their ranges', () => {
    const spec = good({
      hyperparameters: {
        learningRate: 1,
        length: { $case: 'maxSteps', maxSteps: 1 },
        batchSize: 1,
        gradientAccumulationSteps: 1,
        maxSeqLength: 2,
        warmup: { $case: 'warmupRatio', warmupRatio: 0 },
        schedule: LrSchedule.LR_SCHEDULE_LINEAR,
        minLrRatio: 1,
        weightDecay: 0,
        maxGradNorm: 0,
        adamBeta1: 0,
        adamBeta2: 0.999999,
        adamEpsilon: 1e-12,
        seed: 0,
        trainOnPrompt: false,
        checkpointEverySteps: 0,
        evalEverySteps: 0,
        evalMaxBatches: 0,
      },
      lora: { r: 1, alpha: 1e-3, dropout: 0, targetModules: ['down_proj'], useRslora: true },
    });
    expect(specViolations(spec)).toEqual([]);
  });

  it('names every bad hyperparameter with its range', () => {
    const v = specViolations(
      good({
        hyperparameters: {
          learningRate: 0,
          length: { $case: 'epochs', epochs: -1 },
          batchSize: 0,
          gradientAccumulationSteps: 1.5,
          maxSeqLength: 1,
          warmup: { $case: 'warmupRatio', warmupRatio: 1 },
          schedule: 9 as LrSchedule,
          minLrRatio: 2,
          weightDecay: Number.NaN,
          maxGradNorm: -1,
          adamBeta1: 1,
          adamBeta2: -0.1,
          adamEpsilon: 0,
          seed: 0,
          trainOnPrompt: false,
          checkpointEverySteps: -1,
          evalEverySteps: 0.5,
          evalMaxBatches: -2,
        },
      }),
    );
    expect(v.map((x) => x.field)).toEqual(
      [
        'learningRate',
        'epochs',
        'batchSize',
        'gradientAccumulationSteps',
        'maxSeqLength',
        'warmupRatio',
        'schedule',
        'minLrRatio',
        'weightDecay',
        'maxGradNorm',
        'adamBeta1',
        'adamBeta2',
        'adamEpsilon',
        'checkpointEverySteps',
        'evalEverySteps',
        'evalMaxBatches',
      ].map((f) => `spec.hyperparameters.${f}`),
    );
    expect(v[0]?.description).toBe('must be in (0, 1], got 0');
    expect(v[2]?.description).toBe('must be an integer in [1, 4096], got 0');
  });

  it('refuses warmup steps not below max steps', () => {
    const spec = good({
      hyperparameters: {
        ...good().hyperparameters,
        length: { $case: 'maxSteps', maxSteps: 10 },
        warmup: { $case: 'warmupSteps', warmupSteps: 10 },
      } as JobSpec['hyperparameters'],
    });
    expect(specViolations(spec)).toEqual([
      {
        field: 'spec.hyperparameters.warmupSteps',
        description: 'must be less than maxSteps (10), got 10',
      },
    ]);
  });

  it('checks LoRA settings: rank, alpha, dropout, known and distinct target modules', () => {
    const spec = good({
      lora: {
        r: 0,
        alpha: 0,
        dropout: 1,
        targetModules: ['q_proj', 'attn', 'q_proj'],
        useRslora: false,
      },
    });
    expect(specViolations(spec)).toEqual([
      { field: 'spec.lora.r', description: 'must be an integer in [1, 4096], got 0' },
      { field: 'spec.lora.alpha', description: 'must be in (0, 65536], got 0' },
      { field: 'spec.lora.dropout', description: 'must be in [0, 1), got 1' },
      {
        field: 'spec.lora.targetModules[1]',
        description:
          '"attn" is not a Llama linear layer (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)',
      },
      { field: 'spec.lora.targetModules[2]', description: '"q_proj" is listed twice' },
    ]);
  });

  it('refuses settings of another method', () => {
    const full = good({
      method: Method.METHOD_FULL,
      lora: { r: 8, alpha: 16, dropout: 0, targetModules: [], useRslora: false },
      qlora: { blockSize: 64, doubleQuant: true, quantizedBase: undefined },
      dpo: { beta: 0.1, loss: DpoLoss.DPO_LOSS_SIGMOID, labelSmoothing: 0 },
    });
    expect(specViolations(full).map((v) => v.description)).toEqual([
      'is used by LORA, QLORA and DPO only, not FULL',
      'is used by QLORA only, not FULL',
      'is used by DPO only, not FULL',
    ]);
  });

  it('checks QLoRA block sizes and DPO beta, loss and label smoothing', () => {
    expect(
      fields(
        good({
          method: Method.METHOD_QLORA,
          qlora: { blockSize: 48, doubleQuant: true, quantizedBase: undefined },
        }),
      ),
    ).toEqual(['spec.qlora.blockSize']);
    expect(
      specViolations(
        good({
          method: Method.METHOD_DPO,
          dpo: { beta: 0, loss: DpoLoss.DPO_LOSS_IPO, labelSmoothing: 0.2 },
        }),
      ).map((v) => `${v.field}: ${v.description}`),
    ).toEqual([
      'spec.dpo.beta: must be in (0, 100], got 0',
      'spec.dpo.labelSmoothing: applies to the SIGMOID loss only',
    ]);
  });

  it('requires method, base model with a selector, dataset; checks names and output', () => {
    expect(fields(undefined)).toEqual(['spec']);
    expect(
      fields(
        JobSpec.fromPartial({
          baseModel: { name: 'Bad_Name' },
          dataset: { dataset: 'x', version: -1, manifestSha256: 'abc' },
          outputName: 'UP',
          outputAlias: '1x',
          resources: { device: 7 as Device, memoryBudgetBytes: -1, cpuThreads: 5000 },
        }),
      ),
    ).toEqual([
      'spec.method',
      'spec.baseModel.name',
      'spec.baseModel',
      'spec.dataset.version',
      'spec.dataset.manifestSha256',
      'spec.resources.device',
      'spec.resources.memoryBudgetBytes',
      'spec.resources.cpuThreads',
      'spec.outputName',
      'spec.outputAlias',
    ]);
  });
});
