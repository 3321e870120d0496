// The checks of a job spec against what its references resolved to: the method must fit the base
// model (QLoRA needs an unquantized Llama or an NF4 base, full fine-tuning an unquantized one),
// the dataset kind must fit the method, and sequence length and evaluation must fit the inputs.
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { DatasetVersion } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { ModelKind, type ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import { type JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import type { FieldViolation } from '@lathe/service-kit';
import { HYPERPARAMETER_DEFAULTS, methodName } from './job-spec-rules.js';

/** Model types the compute engine trains (libs/llm: the Llama family). */
export const TRAINABLE_MODEL_TYPES: readonly string[] = ['llama'];

/** "stories260k@3" */
function refName(v: ModelVersion): string {
  return `${v.ref?.name ?? '?'}@${String(v.ref?.version ?? 0)}`;
}

/** Whether `v` is a quantized copy with 4-bit NF4 weights. */
export function isNf4(v: ModelVersion): boolean {
  return v.kind === ModelKind.MODEL_KIND_QUANTIZED && v.quantization?.scheme === 'nf4';
}

/**
 * Violations of `spec` given its resolved base model and dataset version (empty when they fit).
 * Field paths as in {@link specViolations}.
 */
export function inputViolations(
  spec: JobSpec,
  base: ModelVersion,
  dataset: DatasetVersion,
): FieldViolation[] {
  const found: FieldViolation[] = [];
  const add = (field: string, description: string): void => {
    found.push({ field, description });
  };
  const name = refName(base);
  const method = methodName(spec.method);
  const modelType = base.architecture?.modelType ?? '';
  const quantized = base.kind === ModelKind.MODEL_KIND_QUANTIZED;
  const scheme = base.quantization?.scheme ?? '';

  if (base.kind === ModelKind.MODEL_KIND_ADAPTER)
    add('spec.baseModel', `${name} is an ADAPTER; train on a base, merged or quantized model`);
  else if (!quantized && !TRAINABLE_MODEL_TYPES.includes(modelType))
    add(
      'spec.baseModel',
      `${name} has model_type "${modelType}"; the trainer supports ${TRAINABLE_MODEL_TYPES.join(', ')}`,
    );

  switch (spec.method) {
    case Method.METHOD_FULL:
      if (quantized)
        add(
          'spec.method',
          `FULL fine-tuning cannot train the ${scheme} weights of quantized ${name}; use its source model, or QLORA`,
        );
      break;
    case Method.METHOD_LORA:
      if (quantized)
        add(
          'spec.method',
          `LORA needs unquantized weights and ${name} is ${scheme}-quantized; use QLORA for a 4-bit base`,
        );
      break;
    case Method.METHOD_QLORA:
      if (quantized && !isNf4(base))
        add(
          'spec.method',
          `QLORA needs an unquantized Llama model or an NF4 base; ${name} is ${scheme}-quantized`,
        );
      if (isNf4(base) && spec.qlora?.quantizedBase !== undefined)
        add('spec.qlora.quantizedBase', `the base ${name} is already NF4; leave this unset`);
      break;
    case Method.METHOD_DPO:
      if (quantized && !isNf4(base))
        add(
          'spec.method',
          `DPO trains LoRA over an unquantized or NF4 base; ${name} is ${scheme}-quantized`,
        );
      break;
    default:
      break;
  }

  const kind = dataset.kind;
  const ds = `${dataset.ref?.dataset ?? '?'} version ${String(dataset.ref?.version ?? 0)}`;
  if (spec.method === Method.METHOD_DPO && kind !== DatasetKind.DATASET_KIND_PREFERENCE)
    add('spec.dataset', `DPO needs a PREFERENCE dataset; ${ds} holds ${DatasetKind[kind]}`);
  if (spec.method !== Method.METHOD_DPO && kind !== DatasetKind.DATASET_KIND_SFT)
    add('spec.dataset', `${method} needs an SFT dataset; ${ds} holds ${DatasetKind[kind]}`);
  if (dataset.trainCount <= 0) add('spec.dataset', `${ds} has no train records`);
  const h = spec.hyperparameters;
  if ((h?.evalEverySteps ?? 0) > 0 && dataset.evalCount <= 0)
    add(
      'spec.hyperparameters.evalEverySteps',
      `${ds} has no eval split to evaluate on; leave it 0`,
    );
  const seq = h?.maxSeqLength ?? HYPERPARAMETER_DEFAULTS.maxSeqLength;
  const context = base.architecture?.contextLength ?? 0;
  // Only an explicit value is refused: the default is 512 capped at the context (job_spec.proto).
  if (h?.maxSeqLength !== undefined && context > 0 && seq > context)
    add(
      'spec.hyperparameters.maxSeqLength',
      `${String(seq)} exceeds the context length of ${name} (${String(context)})`,
    );
  return found;
}
