import { createLoraConfig, type LoraConfig, type LoraOptions } from '../peft/lora-config.js';
import type { DecayKind } from '../optim/lr-schedule.js';
import { createQuantConfig, type QuantConfig, type QuantOptions } from '../quant/quant-config.js';
import { CHECKPOINT_POLICIES, type CheckpointPolicy } from './training-engine.js';

/**
 * What is trained: every parameter, LoRA adapters on a frozen fp32 base, or LoRA adapters on a
 * frozen base held 4-bit (QLoRA).
 */
export type TrainingMethod = 'full' | 'lora' | 'qlora';

const METHODS: readonly TrainingMethod[] = ['full', 'lora', 'qlora'];

/**
 * Whether a method checkpoints activations unless told: QLoRA does (Dettmers et al. 2023 train
 * with gradient checkpointing; measured here, bench/src/qlora-step.ts), the others keep the
 * activations (faster, and their peak memory is dominated by the fp32 base anyway).
 */
export function defaultGradientCheckpointing(method: TrainingMethod): boolean {
  return method === 'qlora';
}

/** Options of a fine-tuning run. Every optional field is documented with its default. */
export interface TrainOptions {
  /** 'full', 'lora' or 'qlora'. Required. */
  readonly method: TrainingMethod;
  /**
   * Hugging Face model directory (config.json, model.safetensors, tokenizer.json). Required. A
   * bitsandbytes-quantized directory is accepted for 'lora' (dequantized to fp32 on load) and for
   * 'qlora' (kept 4-bit); 'full' needs a full-precision one.
   */
  readonly modelDir: string;
  /** Training data (JSONL or JSON array; OpenAI, Alpaca, ShareGPT or text records). Required. */
  readonly dataPath: string;
  /** Output directory: the adapter or model, checkpoints/, and training_summary.json. Required. */
  readonly outDir: string;
  /** Held-out data for evaluation loss and perplexity. Default: none. */
  readonly evalDataPath?: string;
  /** Optimizer steps to run; overrides `epochs`. Default: `epochs` worth of steps. */
  readonly maxSteps?: number;
  /** Passes over the training data when `maxSteps` is not given. Default 1. */
  readonly epochs?: number;
  /** Peak learning rate. Default 2e-4 for LoRA and QLoRA, 2e-5 for full fine-tuning. */
  readonly lr?: number;
  /** Linear warmup steps. Default 0. */
  readonly warmupSteps?: number;
  /** Decay after warmup: cosine, linear or constant. Default 'cosine'. */
  readonly decay?: DecayKind;
  /** Final learning rate as a fraction of `lr`. Default 0. */
  readonly minLrRatio?: number;
  /** AdamW decoupled weight decay, not applied to biases and norm scales. Default 0 (Hugging Face Trainer's default). */
  readonly weightDecay?: number;
  /** AdamW beta1. Default 0.9. */
  readonly beta1?: number;
  /** AdamW beta2. Default 0.999. */
  readonly beta2?: number;
  /** AdamW epsilon. Default 1e-8. */
  readonly eps?: number;
  /** Clip gradients to this global L2 norm; 0 disables clipping. Default 1.0. */
  readonly maxGradNorm?: number;
  /** Packed rows per micro-batch. Default 4. */
  readonly batchSize?: number;
  /** Micro-batches per optimizer step (gradient accumulation). Default 1. */
  readonly gradAccum?: number;
  /** Tokens per packed row; longer examples are truncated. Default 256. */
  readonly seqLen?: number;
  /** Pack several examples per row (attention never crosses examples). Default true. */
  readonly pack?: boolean;
  /** LoRA settings (methods 'lora' and 'qlora'). Defaults: see {@link LoraOptions}. */
  readonly lora?: LoraOptions;
  /**
   * How the frozen base is held 4-bit (method 'qlora'): scheme 'nf4' (default) or 'fp4', block
   * size (default 64) and double quantization (default true). A full-precision `modelDir` is
   * quantized on load with these; a bitsandbytes 4-bit `modelDir` is used as stored, and must
   * have this scheme (and this block size and double quantization where they are given).
   */
  readonly quant?: QuantOptions;
  /**
   * The base model the adapter names (`base_model_name_or_path`), e.g. the full-precision model
   * a 4-bit `modelDir` was quantized from, or a hub id. Default: `modelDir`.
   */
  readonly baseModelName?: string;
  /**
   * Activation (gradient) checkpointing: keep only each decoder layer's input from the forward
   * and recompute the layer's activations in the backward. The same gradients, far less memory
   * (activations dominate a QLoRA step's peak), for about one more forward of compute. Default
   * true for 'qlora' (the QLoRA paper's recipe), false for 'lora' and 'full'.
   */
  readonly gradientCheckpointing?: boolean;
  /**
   * What a checkpointed layer keeps besides its input (with `gradientCheckpointing`):
   * 'keep-qkv' (default: the q/k/v projections' outputs and the residual after attention, so the
   * backward recomputes the MLP's gate/up products and the cheap ops), 'keep-projections' (every
   * projection's output: more memory, less recomputation) or 'recompute-all' (least memory, a
   * whole forward again). The gradients are the same under each.
   */
  readonly checkpointPolicy?: CheckpointPolicy;
  /** Seed of every random stream (data order, LoRA init, dropout). Default 42. */
  readonly seed?: number;
  /** Write a checkpoint every N steps (and at the end); 0 = only at the end. Default 50. */
  readonly checkpointEvery?: number;
  /** Checkpoints to keep (oldest removed first); 0 keeps all. Default 2. */
  readonly keepCheckpoints?: number;
  /** Evaluate every N steps (besides before and after training); 0 = only before and after. Default 0. */
  readonly evalEvery?: number;
  /** Drop bad data records (reporting their count) instead of failing on the first. Default false. */
  readonly skipBadRecords?: boolean;
  /** Resume from this run or checkpoint directory. Default: start fresh. */
  readonly resumeFrom?: string;
}

/** {@link TrainOptions} validated, with defaults filled in. */
export interface TrainConfig {
  readonly method: TrainingMethod;
  readonly modelDir: string;
  readonly dataPath: string;
  readonly outDir: string;
  readonly evalDataPath: string | undefined;
  readonly maxSteps: number | undefined;
  readonly epochs: number;
  readonly lr: number;
  readonly warmupSteps: number;
  readonly decay: DecayKind;
  readonly minLrRatio: number;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly maxGradNorm: number;
  readonly batchSize: number;
  readonly gradAccum: number;
  readonly seqLen: number;
  readonly pack: boolean;
  readonly lora: LoraConfig | undefined;
  /** The requested 4-bit quantization (method 'qlora' only). */
  readonly quant: QuantConfig | undefined;
  /** The raw quantization options, to tell given values from defaults. */
  readonly quantOptions: QuantOptions | undefined;
  readonly baseModelName: string;
  readonly gradientCheckpointing: boolean;
  readonly checkpointPolicy: CheckpointPolicy;
  readonly seed: number;
  readonly checkpointEvery: number;
  readonly keepCheckpoints: number;
  readonly evalEvery: number;
  readonly skipBadRecords: boolean;
  readonly resumeFrom: string | undefined;
}

/** A training option that is out of range, naming the option. */
export class TrainConfigError extends RangeError {
  override readonly name = 'TrainConfigError';
}

function int(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min)
    throw new TrainConfigError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function num(
  name: string,
  value: number | undefined,
  fallback: number,
  ok: (v: number) => boolean,
  range: string,
): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || !ok(v))
    throw new TrainConfigError(`${name} must be ${range}, got ${v}`);
  return v;
}

/**
 * Validates training options and fills in defaults.
 *
 * @throws TrainConfigError naming the first invalid option
 */
export function createTrainConfig(options: TrainOptions): TrainConfig {
  if (!METHODS.includes(options.method)) {
    throw new TrainConfigError(
      `method must be "full", "lora" or "qlora", got ${JSON.stringify(options.method)}`,
    );
  }
  for (const key of ['modelDir', 'dataPath', 'outDir'] as const) {
    if (typeof options[key] !== 'string' || options[key] === '')
      throw new TrainConfigError(`${key} is required`);
  }
  let lora: LoraConfig | undefined;
  if (options.method !== 'full') {
    try {
      lora = createLoraConfig(options.lora);
    } catch (cause) {
      throw new TrainConfigError((cause as Error).message);
    }
  } else if (options.lora !== undefined) {
    throw new TrainConfigError('lora options given but method is "full"');
  }
  let quant: QuantConfig | undefined;
  if (options.method === 'qlora') {
    try {
      quant = createQuantConfig(options.quant);
    } catch (cause) {
      throw new TrainConfigError(`quant.${(cause as Error).message}`);
    }
    if (quant.scheme === 'int8') {
      throw new TrainConfigError(
        'quant.scheme must be nf4 or fp4 for qlora (the base is held 4-bit), got "int8"',
      );
    }
  } else if (options.quant !== undefined) {
    throw new TrainConfigError(
      `quant options given but method is "${options.method}" (they apply to "qlora")`,
    );
  }
  if (options.baseModelName !== undefined && options.baseModelName === '') {
    throw new TrainConfigError('baseModelName must not be empty');
  }
  if (
    options.gradientCheckpointing !== undefined &&
    typeof options.gradientCheckpointing !== 'boolean'
  ) {
    throw new TrainConfigError(
      `gradientCheckpointing must be true or false, got ${JSON.stringify(options.gradientCheckpointing)}`,
    );
  }
  if (
    options.checkpointPolicy !== undefined &&
    !(CHECKPOINT_POLICIES as readonly unknown[]).includes(options.checkpointPolicy)
  ) {
    throw new TrainConfigError(
      `checkpointPolicy must be one of ${CHECKPOINT_POLICIES.join(', ')}, got ${JSON.stringify(options.checkpointPolicy)}`,
    );
  }
  const decay = options.decay ?? 'cosine';
  if (!['cosine', 'linear', 'constant'].includes(decay)) {
    throw new TrainConfigError(
      `decay must be cosine, linear or constant, got ${JSON.stringify(decay)}`,
    );
  }
  return {
    method: options.method,
    modelDir: options.modelDir,
    dataPath: options.dataPath,
    outDir: options.outDir,
    evalDataPath: options.evalDataPath,
    maxSteps: options.maxSteps === undefined ? undefined : int('maxSteps', options.maxSteps, 0, 1),
    epochs: int('epochs', options.epochs, 1, 1),
    lr: num('lr', options.lr, options.method === 'full' ? 2e-5 : 2e-4, (v) => v > 0, '> 0'),
    warmupSteps: int('warmupSteps', options.warmupSteps, 0, 0),
    decay,
    minLrRatio: num('minLrRatio', options.minLrRatio, 0, (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    weightDecay: num('weightDecay', options.weightDecay, 0, (v) => v >= 0, '>= 0'),
    beta1: num('beta1', options.beta1, 0.9, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    beta2: num('beta2', options.beta2, 0.999, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    eps: num('eps', options.eps, 1e-8, (v) => v >= 0, '>= 0'),
    maxGradNorm: num('maxGradNorm', options.maxGradNorm, 1, (v) => v >= 0, '>= 0'),
    batchSize: int('batchSize', options.batchSize, 4, 1),
    gradAccum: int('gradAccum', options.gradAccum, 1, 1),
    seqLen: int('seqLen', options.seqLen, 256, 2),
    pack: options.pack ?? true,
    lora,
    quant,
    quantOptions: options.quant,
    baseModelName: options.baseModelName ?? options.modelDir,
    gradientCheckpointing:
      options.gradientCheckpointing ?? defaultGradientCheckpointing(options.method),
    checkpointPolicy: options.checkpointPolicy ?? 'keep-qkv',
    seed: int('seed', options.seed, 42, 0),
    checkpointEvery: int('checkpointEvery', options.checkpointEvery, 50, 0),
    keepCheckpoints: int('keepCheckpoints', options.keepCheckpoints, 2, 0),
    evalEvery: int('evalEvery', options.evalEvery, 0, 0),
    skipBadRecords: options.skipBadRecords ?? false,
    resumeFrom: options.resumeFrom,
  };
}

/**
 * The settings a resumed run must share with the run that wrote the checkpoint for the result to
 * be the same as an uninterrupted run. Paths are left out (a worker on another machine may see the
 * same files elsewhere); the data is identified by its content digest instead.
 */
export function resumeFingerprint(
  config: TrainConfig,
  dataSha256: string,
  totalSteps: number,
): Record<string, string | number | boolean> {
  // qlora adds its quantization (the base's values change with it); other methods keep the keys
  // older checkpoints were written with.
  const quant: Record<string, string> =
    config.quant === undefined ? {} : { quant: JSON.stringify(config.quant) };
  return {
    ...quant,
    method: config.method,
    dataSha256,
    totalSteps,
    lr: config.lr,
    warmupSteps: config.warmupSteps,
    decay: config.decay,
    minLrRatio: config.minLrRatio,
    weightDecay: config.weightDecay,
    beta1: config.beta1,
    beta2: config.beta2,
    eps: config.eps,
    maxGradNorm: config.maxGradNorm,
    batchSize: config.batchSize,
    gradAccum: config.gradAccum,
    seqLen: config.seqLen,
    pack: config.pack,
    seed: config.seed,
    lora: config.lora === undefined ? 'none' : JSON.stringify(config.lora),
  };
}
