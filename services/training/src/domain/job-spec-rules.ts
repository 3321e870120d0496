// The checks of a job spec that need no lookup: every hyperparameter within its range, settings
// that belong to the method, resources. Ranges and defaults are those documented in
// job_spec.proto; `HYPERPARAMETER_DEFAULTS` states the defaults in one place.
import {
  Device,
  DpoLoss,
  type JobSpec,
  LrSchedule,
  Method,
} from '@lathe/contracts/lathe/training/v1/job_spec';
import type { FieldViolation } from '@lathe/service-kit';
import { RESOURCE_NAME } from '@lathe/service-kit';

/** Defaults of unset settings, as documented in job_spec.proto. */
export const HYPERPARAMETER_DEFAULTS = {
  /** Peak learning rate for LoRA, QLoRA and DPO. */
  learningRateAdapter: 2e-4,
  /** Peak learning rate for full fine-tuning. */
  learningRateFull: 2e-5,
  /** Epochs when neither epochs nor max_steps is set. */
  epochs: 1,
  batchSize: 8,
  gradientAccumulationSteps: 1,
  maxSeqLength: 512,
  maxGradNorm: 1.0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  loraR: 8,
  loraAlpha: 16,
  loraDropout: 0.05,
  loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  qloraBlockSize: 64,
  qloraDoubleQuant: true,
  dpoBeta: 0.1,
} as const;

/** Linear layers of a Llama decoder block that LoRA can adapt. */
export const LLAMA_LINEAR_MODULES = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;

/** Limits of the ranges (inclusive unless said). */
export const LIMITS = {
  learningRateMax: 1,
  epochsMax: 1000,
  maxStepsMax: 100_000_000,
  batchSizeMax: 4096,
  gradientAccumulationMax: 4096,
  maxSeqLengthMax: 1_048_576,
  weightDecayMax: 10,
  loraRMax: 4096,
  loraAlphaMax: 65_536,
  dpoBetaMax: 100,
  cpuThreadsMax: 1024,
} as const;

/** Alias names, as the registry checks them. */
const ALIAS = /^[a-z][a-z0-9-]{0,62}$/;
/** Model names are Lathe resource names in the registry. */
const MODEL_NAME = RESOURCE_NAME;
const NAME_RULE =
  "must be lowercase letters, digits and '-', 1 to 63 characters, starting with a letter";

const ADAPTER_METHODS: ReadonlySet<Method> = new Set([
  Method.METHOD_LORA,
  Method.METHOD_QLORA,
  Method.METHOD_DPO,
]);

/** Collects field violations with one line per rule. */
class Violations {
  readonly found: FieldViolation[] = [];

  add(field: string, description: string): void {
    this.found.push({ field, description });
  }

  /** `value`, when set, must be finite and in the interval (open ends with `open`). */
  range(
    field: string,
    value: number | undefined,
    min: number,
    max: number,
    open: { min?: boolean; max?: boolean } = {},
  ): void {
    if (value === undefined) return;
    const lo = open.min === true ? value > min : value >= min;
    const hi = open.max === true ? value < max : value <= max;
    if (!Number.isFinite(value) || !lo || !hi)
      this.add(
        field,
        `must be in ${open.min === true ? '(' : '['}${String(min)}, ${String(max)}${open.max === true ? ')' : ']'}, got ${String(value)}`,
      );
  }

  /** `value`, when set, must be an integer in [min, max]. */
  int(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min || value > max)
      this.add(
        field,
        `must be an integer in [${String(min)}, ${String(max)}], got ${String(value)}`,
      );
  }

  enumValue(field: string, value: number, known: object): void {
    if (!Object.values(known).includes(value) || value < 0)
      this.add(field, `is not a known value (${String(value)})`);
  }
}

/** The method's name for messages, e.g. "LORA". */
export function methodName(method: Method): string {
  return Method[method]?.replace(/^METHOD_/, '') ?? String(method);
}

/**
 * Every violation of `spec` that can be seen without looking anything up, with camelCase field
 * paths (`spec.hyperparameters.learningRate`). Empty when the spec is acceptable.
 */
export function specViolations(spec: JobSpec | undefined): FieldViolation[] {
  const v = new Violations();
  if (spec === undefined) {
    v.add('spec', 'is required');
    return v.found;
  }
  if (spec.method === Method.METHOD_UNSPECIFIED) v.add('spec.method', 'is required');
  else v.enumValue('spec.method', spec.method, Method);
  const adapter = ADAPTER_METHODS.has(spec.method);
  const method = methodName(spec.method);

  // Inputs.
  const base = spec.baseModel;
  if (base === undefined) v.add('spec.baseModel', 'is required');
  else {
    if (!MODEL_NAME.test(base.name))
      v.add('spec.baseModel.name', `${NAME_RULE}; got "${base.name}"`);
    if (base.selector === undefined)
      v.add('spec.baseModel', 'needs a version or an alias (e.g. NAME@prod)');
    else if (base.selector.$case === 'version' && base.selector.version < 1)
      v.add('spec.baseModel.version', 'must be 1 or more');
    else if (base.selector.$case === 'alias' && !ALIAS.test(base.selector.alias))
      v.add('spec.baseModel.alias', `is not an alias name: "${base.selector.alias}"`);
  }
  const dataset = spec.dataset;
  if (dataset === undefined) v.add('spec.dataset', 'is required');
  else {
    if (!RESOURCE_NAME.test(dataset.dataset))
      v.add('spec.dataset.dataset', `${NAME_RULE}; got "${dataset.dataset}"`);
    if (dataset.version < 0) v.add('spec.dataset.version', 'must be 0 (latest) or more');
    if (dataset.manifestSha256 !== '' && !/^[0-9a-f]{64}$/.test(dataset.manifestSha256))
      v.add('spec.dataset.manifestSha256', 'must be 64 lowercase hex characters');
  }

  // Hyperparameters.
  const h = spec.hyperparameters;
  if (h !== undefined) {
    const f = (name: string): string => `spec.hyperparameters.${name}`;
    v.range(f('learningRate'), h.learningRate, 0, LIMITS.learningRateMax, { min: true });
    if (h.length?.$case === 'epochs')
      v.range(f('epochs'), h.length.epochs, 0, LIMITS.epochsMax, { min: true });
    if (h.length?.$case === 'maxSteps')
      v.int(f('maxSteps'), h.length.maxSteps, 1, LIMITS.maxStepsMax);
    v.int(f('batchSize'), h.batchSize, 1, LIMITS.batchSizeMax);
    v.int(
      f('gradientAccumulationSteps'),
      h.gradientAccumulationSteps,
      1,
      LIMITS.gradientAccumulationMax,
    );
    v.int(f('maxSeqLength'), h.maxSeqLength, 2, LIMITS.maxSeqLengthMax);
    if (h.warmup?.$case === 'warmupSteps') {
      v.int(f('warmupSteps'), h.warmup.warmupSteps, 0, LIMITS.maxStepsMax);
      if (h.length?.$case === 'maxSteps' && h.warmup.warmupSteps >= h.length.maxSteps)
        v.add(
          f('warmupSteps'),
          `must be less than maxSteps (${String(h.length.maxSteps)}), got ${String(h.warmup.warmupSteps)}`,
        );
    }
    if (h.warmup?.$case === 'warmupRatio')
      v.range(f('warmupRatio'), h.warmup.warmupRatio, 0, 1, { max: true });
    v.enumValue(f('schedule'), h.schedule, LrSchedule);
    v.range(f('minLrRatio'), h.minLrRatio, 0, 1);
    if (h.minLrRatio !== 0 && h.schedule === LrSchedule.LR_SCHEDULE_CONSTANT)
      v.add(f('minLrRatio'), 'has no effect with the CONSTANT schedule; leave it 0');
    v.range(f('weightDecay'), h.weightDecay, 0, LIMITS.weightDecayMax);
    v.range(f('maxGradNorm'), h.maxGradNorm, 0, Number.MAX_VALUE);
    v.range(f('adamBeta1'), h.adamBeta1, 0, 1, { max: true });
    v.range(f('adamBeta2'), h.adamBeta2, 0, 1, { max: true });
    v.range(f('adamEpsilon'), h.adamEpsilon, 0, 1, { min: true });
    v.int(f('checkpointEverySteps'), h.checkpointEverySteps, 0, LIMITS.maxStepsMax);
    v.int(f('evalEverySteps'), h.evalEverySteps, 0, LIMITS.maxStepsMax);
    v.int(f('evalMaxBatches'), h.evalMaxBatches, 0, 1_000_000);
  }

  // Method settings.
  if (spec.lora !== undefined) {
    if (!adapter && spec.method !== Method.METHOD_UNSPECIFIED)
      v.add('spec.lora', `is used by LORA, QLORA and DPO only, not ${method}`);
    const l = spec.lora;
    v.int('spec.lora.r', l.r, 1, LIMITS.loraRMax);
    v.range('spec.lora.alpha', l.alpha, 0, LIMITS.loraAlphaMax, { min: true });
    v.range('spec.lora.dropout', l.dropout, 0, 1, { max: true });
    const seen = new Set<string>();
    l.targetModules.forEach((m, i) => {
      if (!(LLAMA_LINEAR_MODULES as readonly string[]).includes(m))
        v.add(
          `spec.lora.targetModules[${String(i)}]`,
          `"${m}" is not a Llama linear layer (${LLAMA_LINEAR_MODULES.join(', ')})`,
        );
      else if (seen.has(m))
        v.add(`spec.lora.targetModules[${String(i)}]`, `"${m}" is listed twice`);
      seen.add(m);
    });
  }
  if (spec.qlora !== undefined) {
    if (spec.method !== Method.METHOD_QLORA && spec.method !== Method.METHOD_UNSPECIFIED)
      v.add('spec.qlora', `is used by QLORA only, not ${method}`);
    const b = spec.qlora.blockSize;
    if (b !== undefined && (!Number.isInteger(b) || b < 32 || b > 4096 || (b & (b - 1)) !== 0))
      v.add('spec.qlora.blockSize', `must be a power of two from 32 to 4096, got ${String(b)}`);
    const q = spec.qlora.quantizedBase;
    if (q !== undefined) {
      if (!MODEL_NAME.test(q.name))
        v.add('spec.qlora.quantizedBase.name', `is not a model name: "${q.name}"`);
      if (q.selector === undefined)
        v.add('spec.qlora.quantizedBase', 'needs a version or an alias');
    }
  }
  if (spec.dpo !== undefined) {
    if (spec.method !== Method.METHOD_DPO && spec.method !== Method.METHOD_UNSPECIFIED)
      v.add('spec.dpo', `is used by DPO only, not ${method}`);
    v.range('spec.dpo.beta', spec.dpo.beta, 0, LIMITS.dpoBetaMax, { min: true });
    v.enumValue('spec.dpo.loss', spec.dpo.loss, DpoLoss);
    v.range('spec.dpo.labelSmoothing', spec.dpo.labelSmoothing, 0, 0.5, { max: true });
    const sigmoid =
      spec.dpo.loss === DpoLoss.DPO_LOSS_SIGMOID || spec.dpo.loss === DpoLoss.DPO_LOSS_UNSPECIFIED;
    if (spec.dpo.labelSmoothing !== 0 && !sigmoid)
      v.add('spec.dpo.labelSmoothing', 'applies to the SIGMOID loss only');
  }

  // Resources and output.
  const r = spec.resources;
  if (r !== undefined) {
    v.enumValue('spec.resources.device', r.device, Device);
    v.int('spec.resources.memoryBudgetBytes', r.memoryBudgetBytes, 0, Number.MAX_SAFE_INTEGER);
    v.int('spec.resources.cpuThreads', r.cpuThreads, 0, LIMITS.cpuThreadsMax);
  }
  if (spec.outputName !== '' && !MODEL_NAME.test(spec.outputName))
    v.add('spec.outputName', `${NAME_RULE}; got "${spec.outputName}"`);
  if (spec.outputAlias !== '' && !ALIAS.test(spec.outputAlias))
    v.add('spec.outputAlias', `is not an alias name: "${spec.outputAlias}"`);
  return v.found;
}
