import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLlamaModel, type LlamaModel } from '../model/llama-model.js';
import type { LlamaEngineOptions } from '../model/llama-engine.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/grad-clip.js';
import { createLrSchedule } from '../optim/lr-schedule.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { saveLoraAdapter } from '../peft/adapter-files.js';
import { createLoraConfig, type LoraOptions } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { saveHfModel } from '../merge/save-hf-model.js';
import { loadQuantizedModel, readBitsAndBytesConfig } from '../quant/load-quantized-model.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import type { EngineMethod } from '../train/training-engine.js';
import { createDpoLossConfig, DpoEngine, type DpoLossConfig } from './dpo-engine.js';
import { dpoMetrics, type DpoMetrics } from './dpo-metrics.js';
import { loadPreferenceData } from './load-preference-data.js';
import { pairBatch, type PreferencePair } from './preference-pair.js';
import { ReferenceScorer } from './reference-scorer.js';
import {
  createPairLimits,
  tokenizePairs,
  type PairLimits,
  type PairReport,
} from './tokenize-pairs.js';

/** Options of {@link trainDpo}; every default is stated. */
export interface DpoTrainOptions {
  /**
   * The base model (Hugging Face layout, or a bitsandbytes-quantized one for QLoRA: dequantized
   * on load). The policy starts from it.
   */
  readonly modelDir: string;
  /** Preference data (see `loadPreferenceData` for the layouts). */
  readonly dataPath: string;
  /** Held-out preference data; without it `evalFraction` of the data is held out. */
  readonly evalDataPath?: string;
  /** Share of the pairs held out for evaluation when no eval file is given. Default 0.1. */
  readonly evalFraction?: number;
  /** Where the adapter (LoRA) or model (full) and `dpo_metrics.json` go. */
  readonly outDir: string;
  /** The frozen reference; default the base model itself (the policy without its adapter). */
  readonly referenceDir?: string;
  /** 'lora' (default) or 'full'. */
  readonly method?: 'lora' | 'full';
  /** LoRA settings (PEFT defaults: r 8, alpha 16, q_proj and v_proj). */
  readonly lora?: LoraOptions;
  readonly loss?: Partial<DpoLossConfig>;
  readonly limits?: Partial<PairLimits>;
  /** Peak learning rate. Default 5e-5 (LoRA), 5e-7 (full). */
  readonly lr?: number;
  /** Pairs per optimizer step. Default 4. */
  readonly batchSize?: number;
  /** Passes over the training pairs. Default 1. */
  readonly epochs?: number;
  /** Stop after this many steps (default: all epochs). */
  readonly maxSteps?: number;
  /** Evaluate every N steps (and always before the first and after the last). Default 0 = ends only. */
  readonly evalEvery?: number;
  /** Global gradient-norm clip. Default 1.0. */
  readonly maxGradNorm?: number;
  /** Seed of the split, the order, LoRA init and dropout. Default 42. */
  readonly seed?: number;
  /** Weight each pair by its `provenance.agreement` (preferences-service snapshots). */
  readonly agreementWeights?: boolean;
  /** Leave out bad records (counted) instead of failing on the first one. */
  readonly skipBadRecords?: boolean;
  readonly session?: LlamaEngineOptions['session'];
}

/** Events of a DPO run. */
export type DpoEvent =
  | {
      readonly type: 'data';
      readonly train: PairReport;
      readonly eval: PairReport;
      readonly trainPairs: number;
      readonly evalPairs: number;
    }
  | {
      readonly type: 'step';
      readonly step: number;
      readonly totalSteps: number;
      readonly lr: number;
      readonly gradNorm: number;
      readonly metrics: DpoMetrics;
    }
  | { readonly type: 'eval'; readonly step: number; readonly metrics: DpoMetrics };

/** What a DPO run leaves behind. */
export interface DpoTrainResult {
  readonly steps: number;
  /** 'cancelled' when `signal` stopped the run early (what was trained so far is saved). */
  readonly status: 'completed' | 'cancelled';
  readonly evals: { step: number; metrics: DpoMetrics }[];
  readonly report: { train: PairReport; eval: PairReport };
}

/**
 * DPO fine-tuning: tokenizes the pairs (every skip and truncation counted), scores them once
 * under the frozen reference (cached for all epochs), then runs AdamW steps on the DPO loss
 * (pair-weighted mean over a step's pairs) and evaluates the held-out pairs. Writes the adapter
 * (LoRA) or the model (full) plus `dpo_metrics.json`. No checkpoints or resume yet; aborting
 * `signal` stops between steps and saves what was trained so far.
 */
export async function trainDpo(
  options: DpoTrainOptions,
  onEvent: (e: DpoEvent) => void = () => undefined,
  signal?: AbortSignal,
): Promise<DpoTrainResult> {
  const loss = createDpoLossConfig(options.loss);
  const limits = createPairLimits(options.limits);
  const method = options.method ?? 'lora';
  const batchSize = options.batchSize ?? 4;
  const epochs = options.epochs ?? 1;
  const seed = options.seed ?? 42;
  const evalEvery = options.evalEvery ?? 0;
  const lr = options.lr ?? (method === 'lora' ? 5e-5 : 5e-7);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch-size: must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new RangeError(`epochs: must be a positive integer (got ${epochs})`);
  // A bitsandbytes 4-bit/8-bit base is dequantized once: LoRA on it computes QLoRA's forward and
  // gradients (W = dequant(q)), though the frozen weights sit in memory as fp32.
  const quantized = (await readBitsAndBytesConfig(options.modelDir)) !== undefined;
  if (quantized && method === 'full')
    throw new RangeError(`${options.modelDir}: a quantized model can be trained with LoRA only`);
  const model = quantized
    ? await loadQuantizedModel(options.modelDir)
    : await loadLlamaModel(options.modelDir);
  const tokenizer = await TextTokenizer.load(options.modelDir, model.config.vocabSize);
  const rng = SeededRandom.fromSeed(seed);

  const data = await loadPreferenceData(options.dataPath, {
    skipBadRecords: options.skipBadRecords ?? false,
    agreementWeights: options.agreementWeights ?? false,
  });
  let train = tokenizePairs(data.examples, tokenizer, limits);
  let held;
  if (options.evalDataPath !== undefined) {
    const evalData = await loadPreferenceData(options.evalDataPath, {
      skipBadRecords: options.skipBadRecords ?? false,
      agreementWeights: options.agreementWeights ?? false,
    });
    held = tokenizePairs(evalData.examples, tokenizer, limits);
  } else {
    const fraction = options.evalFraction ?? 0.1;
    if (!(fraction > 0 && fraction < 1))
      throw new RangeError(`eval-fraction: must be in (0, 1) (got ${fraction})`);
    // Split the records (not the kept pairs), so the report of each side counts its own records.
    const order = rng.split('eval-split').shuffle(data.examples.map((_, i) => i));
    const nEval = Math.max(1, Math.round(order.length * fraction));
    const evalSet = new Set(order.slice(0, nEval));
    held = tokenizePairs(
      data.examples.filter((_, i) => evalSet.has(i)),
      tokenizer,
      limits,
    );
    train = tokenizePairs(
      data.examples.filter((_, i) => !evalSet.has(i)),
      tokenizer,
      limits,
    );
  }
  onEvent({
    type: 'data',
    train: train.report,
    eval: held.report,
    trainPairs: train.pairs.length,
    evalPairs: held.pairs.length,
  });
  if (train.pairs.length === 0)
    throw new RangeError(`${options.dataPath}: no usable training pairs (see the report)`);

  const session = options.session ? { session: options.session } : {};
  const referenceModel = options.referenceDir ? await loadLlamaModel(options.referenceDir) : model;
  const scorer = await ReferenceScorer.create(referenceModel, session);
  let trainRef: Float32Array;
  let evalRef: Float32Array;
  try {
    trainRef = await scoreReference(scorer, train.pairs, batchSize);
    evalRef = await scoreReference(scorer, held.pairs, batchSize);
  } finally {
    await scorer.close();
  }

  const lora = createLoraConfig(options.lora ?? {});
  const engineMethod: EngineMethod =
    method === 'lora' ? { method: 'lora', lora } : { method: 'full' };
  const engine = await DpoEngine.create(model, engineMethod, loss, session);
  try {
    const values = initialValues(model, engine, method, lora, rng);
    const stepsPerEpoch = Math.ceil(train.pairs.length / batchSize);
    const totalSteps = Math.min(options.maxSteps ?? Infinity, stepsPerEpoch * epochs);
    const schedule = createLrSchedule({ lr, totalSteps });
    const optimizer = new AdamW({ weightDecay: 0 });
    const evals: { step: number; metrics: DpoMetrics }[] = [];
    const evaluate = async (step: number): Promise<void> => {
      if (held.pairs.length === 0) return;
      const metrics = await evaluatePairs(
        engine,
        held.pairs,
        evalRef,
        values,
        batchSize,
        loss.beta,
      );
      evals.push({ step, metrics });
      onEvent({ type: 'eval', step, metrics });
    };
    await evaluate(0);
    let step = 0;
    // Aborting stops between steps; the adapter trained so far is evaluated and saved (there
    // is no DPO checkpoint to resume from yet).
    const go = (): boolean => step < totalSteps && signal?.aborted !== true;
    for (let epoch = 0; epoch < epochs && go(); epoch++) {
      const order = rng.split(`epoch-${epoch}`).shuffle(train.pairs.map((_, i) => i));
      for (let s = 0; s < stepsPerEpoch && go(); s++) {
        const idx = order.slice(s * batchSize, (s + 1) * batchSize);
        const pairs = idx.map((i) => train.pairs[i] as PreferencePair);
        const weightSum = pairs.reduce((a, p) => a + (p.weight ?? 1), 0);
        const out = await engine.step(
          pairs,
          gatherRows(trainRef, idx, train.pairs.length),
          1 / weightSum,
          values,
          rng.split(`dropout-${step}`).nextInt(2 ** 31),
        );
        if (!Number.isFinite(out.loss))
          throw new Error(
            `${options.dataPath}: step ${step + 1}: DPO loss is ${out.loss}; training stopped`,
          );
        const gradNorm = clipGradNorm(out.grads.values(), options.maxGradNorm ?? 1);
        const stepLr = schedule.lrAt(step);
        optimizer.update(values, out.grads, stepLr);
        step += 1;
        const metrics = dpoMetrics(out.loss, out.policyLogProbs, out.referenceLogProbs, loss.beta);
        onEvent({ type: 'step', step, totalSteps, lr: stepLr, gradNorm, metrics });
        if (evalEvery > 0 && step % evalEvery === 0 && step < totalSteps) await evaluate(step);
      }
    }
    await evaluate(step);
    await save(options, model, method, lora, engine, values);
    const report = { train: train.report, eval: held.report };
    await writeFile(
      join(options.outDir, 'dpo_metrics.json'),
      `${JSON.stringify({ loss, limits, steps: step, evals, report }, null, 2)}\n`,
    );
    return { steps: step, status: step < totalSteps ? 'cancelled' : 'completed', evals, report };
  } finally {
    await engine.close();
  }
}

/** Reference log-probs of pairs in pairBatch order over all of them: [c_0..c_n-1, r_0..r_n-1]. */
async function scoreReference(
  scorer: ReferenceScorer,
  pairs: readonly PreferencePair[],
  batchSize: number,
): Promise<Float32Array> {
  const all = new Float32Array(2 * pairs.length);
  for (let i = 0; i < pairs.length; i += batchSize) {
    const chunk = pairs.slice(i, i + batchSize);
    const lp = await scorer.sequenceLogProbs(pairBatch(chunk));
    all.set(lp.subarray(0, chunk.length), i);
    all.set(lp.subarray(chunk.length), pairs.length + i);
  }
  return all;
}

/** The cached reference rows of some pairs, in pairBatch order. */
function gatherRows(cache: Float32Array, idx: readonly number[], n: number): Float32Array {
  const out = new Float32Array(2 * idx.length);
  idx.forEach((i, k) => {
    out[k] = cache[i] ?? NaN;
    out[idx.length + k] = cache[n + i] ?? NaN;
  });
  return out;
}

/**
 * Held-out metrics over all pairs: the loss is the pair-weighted mean, the other metrics are
 * over every pair at once (not a mean of batch means).
 */
export async function evaluatePairs(
  engine: DpoEngine,
  pairs: readonly PreferencePair[],
  referenceCache: Float32Array,
  values: ReadonlyMap<string, Float32Array>,
  batchSize: number,
  beta: number,
): Promise<DpoMetrics> {
  const n = pairs.length;
  const policy = new Float32Array(2 * n);
  const reference = new Float32Array(2 * n);
  let lossSum = 0;
  let weightSum = 0;
  for (let i = 0; i < n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, n - i) }, (_, k) => i + k);
    const chunk = idx.map((j) => pairs[j] as PreferencePair);
    const out = await engine.evaluate(chunk, gatherRows(referenceCache, idx, n), 1, values);
    lossSum += out.loss;
    weightSum += chunk.reduce((a, p) => a + (p.weight ?? 1), 0);
    policy.set(out.policyLogProbs.subarray(0, chunk.length), i);
    policy.set(out.policyLogProbs.subarray(chunk.length), n + i);
    reference.set(out.referenceLogProbs.subarray(0, chunk.length), i);
    reference.set(out.referenceLogProbs.subarray(chunk.length), n + i);
  }
  return dpoMetrics(lossSum / weightSum, policy, reference, beta);
}

function initialValues(
  model: LlamaModel,
  engine: DpoEngine,
  method: 'lora' | 'full',
  lora: ReturnType<typeof createLoraConfig>,
  rng: SeededRandom,
): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  const source =
    method === 'lora' ? initLoraTensors(model.config, lora, rng.split('lora-init')) : model.weights;
  for (const name of engine.trainableShapes.keys()) {
    const t = source.get(name);
    if (!t) throw new Error(`no initial value for trainable tensor "${name}"`);
    values.set(name, Float32Array.from(t.data));
  }
  return values;
}

async function save(
  options: DpoTrainOptions,
  model: LlamaModel,
  method: 'lora' | 'full',
  lora: ReturnType<typeof createLoraConfig>,
  engine: DpoEngine,
  values: ReadonlyMap<string, Float32Array>,
): Promise<void> {
  const tensors = new Map<string, Float32Tensor>();
  for (const [name, shape] of engine.trainableShapes) {
    const data = values.get(name);
    if (data) tensors.set(name, { shape, data });
  }
  if (method === 'lora') {
    await saveLoraAdapter(options.outDir, { config: lora, baseModel: options.modelDir, tensors });
  } else {
    // Tied weights are one tensor in the graph; everything not trained is copied from the base.
    const all = new Map(model.weights);
    for (const [n, t] of tensors) all.set(n, t);
    await saveHfModel(options.outDir, options.modelDir, all);
  }
}
