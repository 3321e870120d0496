import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { DatasetVersion } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { ModelKind, ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import { JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { describe, expect, it } from 'vitest';
import { inputViolations } from './job-input-rules.js';

const llama = ModelVersion.fromPartial({
  ref: { name: 'stories260k', version: 1 },
  kind: ModelKind.MODEL_KIND_BASE,
  architecture: { modelType: 'llama', contextLength: 512 },
});
const nf4 = ModelVersion.fromPartial({
  ref: { name: 'stories260k-nf4', version: 1 },
  kind: ModelKind.MODEL_KIND_QUANTIZED,
  architecture: { modelType: 'llama', contextLength: 512 },
  quantization: { scheme: 'nf4', source: { name: 'stories260k', version: 1 } },
});
const int8 = ModelVersion.fromPartial({
  ...nf4,
  ref: { name: 'stories260k-int8', version: 1 },
  quantization: { scheme: 'int8' },
});
const gpt2 = ModelVersion.fromPartial({
  ref: { name: 'gpt2', version: 1 },
  kind: ModelKind.MODEL_KIND_BASE,
  architecture: { modelType: 'gpt2' },
});
const adapter = ModelVersion.fromPartial({
  ref: { name: 'a', version: 2 },
  kind: ModelKind.MODEL_KIND_ADAPTER,
});
const sft = DatasetVersion.fromPartial({
  ref: { dataset: 'alpaca-tiny', version: 1 },
  kind: DatasetKind.DATASET_KIND_SFT,
  trainCount: 90,
  evalCount: 10,
});
const prefs = DatasetVersion.fromPartial({
  ref: { dataset: 'prefs', version: 3 },
  kind: DatasetKind.DATASET_KIND_PREFERENCE,
  trainCount: 10,
  evalCount: 0,
});

const spec = (method: Method, over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({ method, ...over });
const said = (s: JobSpec, base: ModelVersion, data: DatasetVersion): string[] =>
  inputViolations(s, base, data).map((v) => `${v.field}: ${v.description}`);

describe('inputViolations', () => {
  it('accepts each method on the inputs it fits', () => {
    expect(said(spec(Method.METHOD_LORA), llama, sft)).toEqual([]);
    expect(said(spec(Method.METHOD_FULL), llama, sft)).toEqual([]);
    expect(said(spec(Method.METHOD_QLORA), llama, sft)).toEqual([]);
    expect(said(spec(Method.METHOD_QLORA), nf4, sft)).toEqual([]);
    expect(said(spec(Method.METHOD_DPO), llama, prefs)).toEqual([]);
  });

  it('refuses full fine-tuning and LoRA on a quantized base, QLoRA on a non-NF4 one', () => {
    expect(said(spec(Method.METHOD_FULL), nf4, sft)).toEqual([
      'spec.method: FULL fine-tuning cannot train the nf4 weights of quantized stories260k-nf4@1; use its source model, or QLORA',
    ]);
    expect(said(spec(Method.METHOD_LORA), nf4, sft)).toEqual([
      'spec.method: LORA needs unquantized weights and stories260k-nf4@1 is nf4-quantized; use QLORA for a 4-bit base',
    ]);
    expect(said(spec(Method.METHOD_QLORA), int8, sft)).toEqual([
      'spec.method: QLORA needs an unquantized Llama model or an NF4 base; stories260k-int8@1 is int8-quantized',
    ]);
  });

  it('refuses adapters and model types the trainer does not run', () => {
    expect(said(spec(Method.METHOD_LORA), adapter, sft)).toEqual([
      'spec.baseModel: a@2 is an ADAPTER; train on a base, merged or quantized model',
    ]);
    expect(said(spec(Method.METHOD_QLORA), gpt2, sft)).toEqual([
      'spec.baseModel: gpt2@1 has model_type "gpt2"; the trainer supports llama',
    ]);
  });

  it('matches dataset kinds to methods and checks eval, size and context length', () => {
    expect(said(spec(Method.METHOD_DPO), llama, sft)).toEqual([
      'spec.dataset: DPO needs a PREFERENCE dataset; alpaca-tiny version 1 holds DATASET_KIND_SFT',
    ]);
    expect(said(spec(Method.METHOD_LORA), llama, prefs)).toEqual([
      'spec.dataset: LORA needs an SFT dataset; prefs version 3 holds DATASET_KIND_PREFERENCE',
    ]);
    const s = spec(Method.METHOD_DPO, {
      hyperparameters: { evalEverySteps: 5, maxSeqLength: 1024 } as JobSpec['hyperparameters'],
    });
    expect(said(s, llama, { ...prefs, trainCount: 0 })).toEqual([
      'spec.dataset: prefs version 3 has no train records',
      'spec.hyperparameters.evalEverySteps: prefs version 3 has no eval split to evaluate on; leave it 0',
      'spec.hyperparameters.maxSeqLength: 1024 exceeds the context length of stories260k@1 (512)',
    ]);
  });
});
