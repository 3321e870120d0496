// From a job's spec to the options of @lathe/llm's training loop.
import {
  DpoLoss,
  LrSchedule,
  Method,
  type JobSpec,
} from '@lathe/contracts/lathe/training/v1/job_spec';
import type { DecayKind, DpoTrainOptions, LoraOptions, Projection, TrainOptions } from '@lathe/llm';

/**
 * A spec the trainer cannot run as asked (a setting the engine lacks, or one that contradicts
 * another). Deterministic: another attempt would fail the same way, so the job fails once.
 */
export class UnsupportedSpecError extends Error {
  override readonly name = 'UnsupportedSpecError';
  /** The spec field at fault, as a proto path (e.g. `hyperparameters.epochs`). */
  readonly field: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.field = field;
  }
}

/** Where a run's files are. */
export interface PlanPaths {
  /** The base model in Hugging Face layout. */
  readonly modelDir: string;
  /** The train split, chat JSONL. */
  readonly dataPath: string;
  /** The run's output directory (adapter or model, `checkpoints/`). */
  readonly outDir: string;
  /** The eval split, when the dataset version has one. */
  readonly evalDataPath?: string;
  /** A checkpoint directory to resume from. */
  readonly resumeFrom?: string;
  /** The name the adapter records as its base (QLoRA over a stored 4-bit copy: the fp32 base). */
  readonly baseModelName?: string;
}

/** Worker-side defaults that the spec may override. */
export interface PlanDefaults {
  /** Checkpoint interval in steps when the spec leaves it 0 (0: only at the end). */
  readonly checkpointEvery: number;
}

const SCHEDULES: Readonly<Record<LrSchedule, DecayKind | undefined>> = {
  [LrSchedule.LR_SCHEDULE_UNSPECIFIED]: 'cosine',
  [LrSchedule.LR_SCHEDULE_COSINE]: 'cosine',
  [LrSchedule.LR_SCHEDULE_LINEAR]: 'linear',
  [LrSchedule.LR_SCHEDULE_CONSTANT]: 'constant',
  [LrSchedule.UNRECOGNIZED]: undefined,
};

/** The spec's stated LoRA defaults (job_spec.proto), which differ from PEFT's. */
const SPEC_LORA_TARGETS: readonly Projection[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

/** The spec's LoRA settings with the contract's defaults. */
function loraOptionsOf(spec: JobSpec): LoraOptions {
  const lora = spec.lora;
  return {
    r: lora?.r ?? 8,
    alpha: lora?.alpha ?? 16,
    dropout: lora?.dropout ?? 0.05,
    targetModules:
      lora === undefined || lora.targetModules.length === 0
        ? SPEC_LORA_TARGETS
        : (lora.targetModules as Projection[]),
    useRslora: lora?.useRslora ?? false,
  };
}

/** The spec's epochs when it gives them (whole passes only), else undefined. */
function integerEpochs(spec: JobSpec): number | undefined {
  const length = spec.hyperparameters?.length;
  if (length?.$case !== 'epochs') return undefined;
  if (!Number.isInteger(length.epochs))
    throw new UnsupportedSpecError(
      'hyperparameters.epochs',
      `fractional epochs (${length.epochs}) are not supported by this trainer; give max_steps instead`,
    );
  return length.epochs;
}

function methodOf(spec: JobSpec): 'full' | 'lora' | 'qlora' {
  switch (spec.method) {
    case Method.METHOD_FULL:
      return 'full';
    case Method.METHOD_LORA:
      return 'lora';
    case Method.METHOD_QLORA:
      return 'qlora';
    default:
      throw new UnsupportedSpecError('method', `method ${spec.method} is not an SFT method`);
  }
}

/**
 * Builds the {@link TrainOptions} of a full, LoRA or QLoRA fine-tuning job: the spec's
 * hyperparameters with the defaults the contract documents (batch 8, sequence 512, LoRA r 8 /
 * alpha 16 / dropout 0.05 on q, k, v and o; NF4 block 64, double-quantized), checkpoints kept
 * locally until uploaded (the worker prunes them).
 *
 * @throws UnsupportedSpecError naming the field the trainer cannot honour
 */
export function sftTrainOptions(
  spec: JobSpec,
  paths: PlanPaths,
  defaults: PlanDefaults,
): TrainOptions {
  const method = methodOf(spec);
  const h = spec.hyperparameters;
  const decay = SCHEDULES[h?.schedule ?? LrSchedule.LR_SCHEDULE_UNSPECIFIED];
  if (decay === undefined)
    throw new UnsupportedSpecError('hyperparameters.schedule', 'unknown schedule');
  const maxSteps = h?.length?.$case === 'maxSteps' ? h.length.maxSteps : undefined;
  const epochs = integerEpochs(spec);
  let warmupSteps: number | undefined;
  if (h?.warmup?.$case === 'warmupSteps') warmupSteps = h.warmup.warmupSteps;
  if (h?.warmup?.$case === 'warmupRatio') {
    if (maxSteps === undefined)
      throw new UnsupportedSpecError(
        'hyperparameters.warmup_ratio',
        'a warmup ratio needs max_steps (the trainer sizes warmup before it has read the data)',
      );
    warmupSteps = Math.round(h.warmup.warmupRatio * maxSteps);
  }
  if (h?.trainOnPrompt === true)
    throw new UnsupportedSpecError(
      'hyperparameters.train_on_prompt',
      'training on prompt tokens is not supported by this trainer',
    );
  if ((h?.evalMaxBatches ?? 0) > 0)
    throw new UnsupportedSpecError(
      'hyperparameters.eval_max_batches',
      'a cap on eval batches is not supported by this trainer (it evaluates the whole eval split)',
    );
  const evalEvery = h?.evalEverySteps ?? 0;
  return {
    method,
    modelDir: paths.modelDir,
    dataPath: paths.dataPath,
    outDir: paths.outDir,
    // Intermediate evaluations only: the final one is the worker's EVALUATING phase.
    ...(evalEvery > 0 && paths.evalDataPath !== undefined
      ? { evalDataPath: paths.evalDataPath, evalEvery }
      : {}),
    ...(maxSteps === undefined ? {} : { maxSteps }),
    ...(epochs === undefined ? {} : { epochs }),
    ...(h?.learningRate === undefined ? {} : { lr: h.learningRate }),
    ...(warmupSteps === undefined ? {} : { warmupSteps }),
    decay,
    minLrRatio: h?.minLrRatio ?? 0,
    weightDecay: h?.weightDecay ?? 0,
    ...(h?.adamBeta1 === undefined ? {} : { beta1: h.adamBeta1 }),
    ...(h?.adamBeta2 === undefined ? {} : { beta2: h.adamBeta2 }),
    ...(h?.adamEpsilon === undefined ? {} : { eps: h.adamEpsilon }),
    ...(h?.maxGradNorm === undefined ? {} : { maxGradNorm: h.maxGradNorm }),
    batchSize: h?.batchSize ?? 8,
    gradAccum: h?.gradientAccumulationSteps ?? 1,
    seqLen: h?.maxSeqLength ?? 512,
    seed: h?.seed ?? 0,
    ...(method === 'qlora'
      ? {
          quant: {
            scheme: 'nf4' as const,
            ...(spec.qlora?.blockSize === undefined ? {} : { blockSize: spec.qlora.blockSize }),
            ...(spec.qlora?.doubleQuant === undefined
              ? {}
              : { doubleQuant: spec.qlora.doubleQuant }),
          },
        }
      : {}),
    ...(paths.baseModelName === undefined ? {} : { baseModelName: paths.baseModelName }),
    ...(method !== 'full'
      ? {
          lora: loraOptionsOf(spec),
        }
      : {}),
    ...checkpointOptions(spec, paths, defaults),
  };
}

/**
 * The checkpoint settings every method shares: the spec's interval (else the worker's), every
 * checkpoint kept until uploaded (the worker removes them itself), and the checkpoint to resume.
 */
function checkpointOptions(
  spec: JobSpec,
  paths: Pick<PlanPaths, 'resumeFrom'>,
  defaults: PlanDefaults,
): { checkpointEvery: number; keepCheckpoints: 0; resumeFrom?: string } {
  const every = spec.hyperparameters?.checkpointEverySteps ?? 0;
  return {
    checkpointEvery: every > 0 ? every : defaults.checkpointEvery,
    keepCheckpoints: 0,
    ...(paths.resumeFrom === undefined ? {} : { resumeFrom: paths.resumeFrom }),
  };
}

/**
 * Builds the {@link DpoTrainOptions} of a DPO job: a LoRA policy against the frozen base, with the
 * contract's defaults (learning rate 2e-4, batch 8 pairs, beta 0.1, sigmoid loss, LoRA as above).
 * The eval split of the dataset version is the held-out set; without one, `trainDpo` holds out
 * 10% of the pairs itself. Checkpoints and resume as for SFT.
 *
 * @throws UnsupportedSpecError naming the field the trainer cannot honour (the hinge loss)
 */
export function dpoTrainOptions(
  spec: JobSpec,
  paths: Omit<PlanPaths, 'baseModelName'>,
  defaults: PlanDefaults,
): DpoTrainOptions {
  if (spec.method !== Method.METHOD_DPO)
    throw new UnsupportedSpecError('method', `method ${spec.method} is not DPO`);
  const h = spec.hyperparameters;
  const d = spec.dpo;
  let lossType: 'sigmoid' | 'ipo';
  switch (d?.loss ?? DpoLoss.DPO_LOSS_UNSPECIFIED) {
    case DpoLoss.DPO_LOSS_UNSPECIFIED:
    case DpoLoss.DPO_LOSS_SIGMOID:
      lossType = 'sigmoid';
      break;
    case DpoLoss.DPO_LOSS_IPO:
      lossType = 'ipo';
      break;
    default:
      throw new UnsupportedSpecError('dpo.loss', 'only the sigmoid and IPO losses are supported');
  }
  const epochs = integerEpochs(spec);
  return {
    modelDir: paths.modelDir,
    dataPath: paths.dataPath,
    outDir: paths.outDir,
    ...(paths.evalDataPath === undefined ? {} : { evalDataPath: paths.evalDataPath }),
    method: 'lora',
    lora: loraOptionsOf(spec),
    loss: { lossType, beta: d?.beta ?? 0.1, labelSmoothing: d?.labelSmoothing ?? 0 },
    lr: h?.learningRate ?? 2e-4,
    batchSize: h?.batchSize ?? 8,
    ...(epochs === undefined ? {} : { epochs }),
    ...(h?.length?.$case === 'maxSteps' ? { maxSteps: h.length.maxSteps } : {}),
    ...((h?.evalEverySteps ?? 0) > 0 ? { evalEvery: h?.evalEverySteps ?? 0 } : {}),
    ...(h?.maxGradNorm === undefined ? {} : { maxGradNorm: h.maxGradNorm }),
    seed: h?.seed ?? 0,
    ...checkpointOptions(spec, paths, defaults),
  };
}
