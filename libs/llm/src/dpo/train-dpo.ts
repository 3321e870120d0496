import { existsSync } from 'node:fs';
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
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { CheckpointError } from '../train/checkpoint.js';
import {
  CheckpointedRun,
  readResumePoint,
  trainableTensors,
  type ResumePoint,
} from '../train/checkpointed-run.js';
import type { EngineMethod } from '../train/training-engine.js';
import type { TrainingEvent } from '../train/training-events.js';
import {
  dpoFingerprint,
  evalsFromCheckpoint,
  evalsToCheckpoint,
  fileSha256,
  referenceFromCheckpoint,
  referenceTensors,
} from './dpo-checkpoint.js';
import { createDpoLossConfig, DpoEngine, type DpoLossConfig } from './dpo-engine.js';
import { dpoMetrics, type DpoMetrics } from './dpo-metrics.js';
import { preparePairs } from './prepare-pairs.js';
import type { PreferencePair } from './preference-pair.js';
import { gatherRows, scoreReferenceCache, type ReferenceCache } from './reference-cache.js';
import { createPairLimits, type PairLimits, type PairReport } from './tokenize-pairs.js';

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
  /** Write a checkpoint every N steps (and after the last); 0 = after the last only. Default 50. */
  readonly checkpointEvery?: number;
  /** Checkpoints kept in `outDir/checkpoints`, newest first; 0 = all. Default 2. */
  readonly keepCheckpoints?: number;
  /**
   * Continue the run of this checkpoint: a checkpoint directory, or an `outDir` (its latest).
   * The data and settings must be the same (see `dpoFingerprint`); the result is then the one
   * of an uninterrupted run.
   */
  readonly resumeFrom?: string;
  readonly session?: LlamaEngineOptions['session'];
}

/** The start event of train(), whose fields a DPO run shares. */
type StartEvent = Extract<TrainingEvent, { type: 'start' }>;

/** Events of a DPO run; `start` and `checkpoint` are train()'s. */
export type DpoEvent =
  | {
      readonly type: 'data';
      readonly train: PairReport;
      readonly eval: PairReport;
      readonly trainPairs: number;
      readonly evalPairs: number;
    }
  | Pick<StartEvent, 'type' | 'startStep' | 'totalSteps' | 'stepsPerEpoch'>
  | {
      readonly type: 'step';
      readonly step: number;
      readonly totalSteps: number;
      readonly lr: number;
      readonly gradNorm: number;
      readonly metrics: DpoMetrics;
    }
  | { readonly type: 'eval'; readonly step: number; readonly metrics: DpoMetrics }
  | Extract<TrainingEvent, { type: 'checkpoint' }>;

/** What a DPO run leaves behind. */
export interface DpoTrainResult {
  readonly steps: number;
  /**
   * 'cancelled' when `signal` stopped the run early: a checkpoint of the last completed step is
   * written (resume with `resumeFrom`), the adapter or model is not.
   */
  readonly status: 'completed' | 'cancelled';
  /** Held-out evaluations over the whole run (resumed parts included). */
  readonly evals: { step: number; metrics: DpoMetrics }[];
  readonly report: { train: PairReport; eval: PairReport };
  /** The last checkpoint written (or resumed from), if any. */
  readonly lastCheckpoint: string | undefined;
}

/**
 * DPO fine-tuning: tokenizes the pairs (every skip and truncation counted), scores them once
 * under the frozen reference (cached for all epochs), then runs AdamW steps on the DPO loss
 * (pair-weighted mean over a step's pairs) and evaluates the held-out pairs. Writes the adapter
 * (LoRA) or the model (full) plus `dpo_metrics.json`, and checkpoints every `checkpointEvery`
 * steps under `outDir/checkpoints` (train()'s layout, with the reference cache beside the
 * tensors). `resumeFrom` continues a run exactly: same adapter and same losses as without the
 * interruption. Aborting `signal` stops between steps after a checkpoint of the last completed
 * step. When `onEvent` returns a promise the run waits for it before going on, so a caller that
 * records each step (the training worker) is never more than a step behind.
 *
 * @throws CheckpointError for a checkpoint of another run (naming the setting that differs), or
 *   an `outDir` holding an earlier run's checkpoints without `resumeFrom`
 */
export async function trainDpo(
  options: DpoTrainOptions,
  onEvent: (e: DpoEvent) => unknown = () => undefined,
  signal?: AbortSignal,
): Promise<DpoTrainResult> {
  const loss = createDpoLossConfig(options.loss);
  const limits = createPairLimits(options.limits);
  const method = options.method ?? 'lora';
  const batchSize = options.batchSize ?? 4;
  const epochs = options.epochs ?? 1;
  const seed = options.seed ?? 42;
  const evalEvery = options.evalEvery ?? 0;
  const maxGradNorm = options.maxGradNorm ?? 1;
  const checkpointEvery = options.checkpointEvery ?? 50;
  const keepCheckpoints = options.keepCheckpoints ?? 2;
  const lr = options.lr ?? (method === 'lora' ? 5e-5 : 5e-7);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch-size: must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new RangeError(`epochs: must be a positive integer (got ${epochs})`);
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 0)
    throw new RangeError(
      `checkpoint-every: must be a non-negative integer (got ${checkpointEvery})`,
    );
  if (!Number.isInteger(keepCheckpoints) || keepCheckpoints < 0)
    throw new RangeError(
      `keep-checkpoints: must be a non-negative integer (got ${keepCheckpoints})`,
    );
  if (options.resumeFrom === undefined && existsSync(join(options.outDir, 'checkpoints', 'latest')))
    // Starting over would interleave two runs' checkpoints in one folder.
    throw new CheckpointError(
      options.outDir,
      'holds checkpoints of an earlier run; resume it (--resume) or choose another output directory',
    );
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

  const fraction = options.evalFraction ?? 0.1;
  const { train, held } = await preparePairs(options, tokenizer, limits, fraction, rng);
  await onEvent({
    type: 'data',
    train: train.report,
    eval: held.report,
    trainPairs: train.pairs.length,
    evalPairs: held.pairs.length,
  });
  if (train.pairs.length === 0)
    throw new RangeError(`${options.dataPath}: no usable training pairs (see the report)`);

  const lora = createLoraConfig(options.lora ?? {});
  const stepsPerEpoch = Math.ceil(train.pairs.length / batchSize);
  const totalSteps = Math.min(options.maxSteps ?? Infinity, stepsPerEpoch * epochs);
  const fingerprint = dpoFingerprint({
    method,
    dataSha256: await fileSha256(options.dataPath),
    evalDataSha256:
      options.evalDataPath === undefined ? undefined : await fileSha256(options.evalDataPath),
    evalFraction: fraction,
    totalSteps,
    lr,
    batchSize,
    maxGradNorm,
    seed,
    loss,
    limits,
    lora: method === 'lora' ? lora : undefined,
    agreementWeights: options.agreementWeights ?? false,
    skipBadRecords: options.skipBadRecords ?? false,
    reference: options.referenceDir === undefined ? 'base' : 'separate',
  });
  const resume: ResumePoint | undefined =
    options.resumeFrom === undefined
      ? undefined
      : await readResumePoint(options.resumeFrom, fingerprint);

  const session = options.session ? { session: options.session } : {};
  const reference: ReferenceCache =
    resume === undefined
      ? await scoreReferenceCache(
          options.referenceDir,
          model,
          train.pairs,
          held.pairs,
          batchSize,
          session,
        )
      : referenceFromCheckpoint(resume.dir, resume.checkpoint, {
          train: train.pairs.length,
          eval: held.pairs.length,
        });

  const engineMethod: EngineMethod =
    method === 'lora' ? { method: 'lora', lora } : { method: 'full' };
  const engine = await DpoEngine.create(model, engineMethod, loss, session);
  try {
    const values = initialValues(model, engine, method, lora, rng);
    const schedule = createLrSchedule({ lr, totalSteps });
    const optimizer = new AdamW({ weightDecay: 0 });
    const evals: { step: number; metrics: DpoMetrics }[] = [];
    const run = new CheckpointedRun({
      outDir: options.outDir,
      fingerprint,
      rng,
      trainable: values,
      shapes: engine.trainableShapes,
      optimizer,
      stepsPerEpoch,
      totalSteps,
      checkpointEvery,
      keepCheckpoints,
      onCheckpoint: onEvent,
      methodState: () => ({
        evals: evalsToCheckpoint(evals),
        extra: referenceTensors(reference),
      }),
    });
    if (resume !== undefined) {
      run.restore(resume);
      evals.push(...evalsFromCheckpoint(resume.checkpoint.state));
    }
    const evaluate = async (): Promise<void> => {
      if (held.pairs.length === 0) return;
      const metrics = await evaluatePairs(
        engine,
        held.pairs,
        reference.eval,
        values,
        batchSize,
        loss.beta,
      );
      evals.push({ step: run.step, metrics });
      await onEvent({ type: 'eval', step: run.step, metrics });
    };
    const report = { train: train.report, eval: held.report };
    await onEvent({ type: 'start', startStep: run.step, totalSteps, stepsPerEpoch });
    if (resume === undefined) await evaluate();
    let epochOrder: { epoch: number; order: number[] } | undefined;
    while (run.step < totalSteps) {
      if (signal?.aborted === true) {
        await run.saveIfUnsaved();
        return {
          steps: run.step,
          status: 'cancelled',
          evals,
          report,
          lastCheckpoint: run.lastCheckpoint,
        };
      }
      const { step, position } = run;
      if (epochOrder?.epoch !== position.epoch) {
        // Each epoch visits the pairs in its own seeded order.
        const order = rng.split(`epoch-${position.epoch}`).shuffle(train.pairs.map((_, i) => i));
        epochOrder = { epoch: position.epoch, order };
      }
      const from = position.stepInEpoch * batchSize;
      const idx = epochOrder.order.slice(from, from + batchSize);
      const pairs = idx.map((i) => train.pairs[i] as PreferencePair);
      const weightSum = pairs.reduce((a, p) => a + (p.weight ?? 1), 0);
      const out = await engine.step(
        pairs,
        gatherRows(reference.train, idx, train.pairs.length),
        1 / weightSum,
        values,
        rng.split(`dropout-${step}`).nextInt(2 ** 31),
      );
      if (!Number.isFinite(out.loss))
        throw new Error(
          `${options.dataPath}: step ${step + 1}: DPO loss is ${out.loss}; training stopped`,
        );
      const gradNorm = clipGradNorm(out.grads.values(), maxGradNorm);
      const stepLr = schedule.lrAt(step);
      optimizer.update(values, out.grads, stepLr);
      run.advance(
        out.loss,
        pairs.reduce((a, p) => a + p.chosen.length + p.rejected.length, 0),
      );
      const metrics = dpoMetrics(out.loss, out.policyLogProbs, out.referenceLogProbs, loss.beta);
      const done = run.step;
      await onEvent({ type: 'step', step: done, totalSteps, lr: stepLr, gradNorm, metrics });
      if (evalEvery > 0 && done % evalEvery === 0 && done < totalSteps) await evaluate();
      await run.saveIfDue();
    }
    await evaluate();
    await save(options, model, method, lora, engine, values);
    const steps = run.step;
    await writeFile(
      join(options.outDir, 'dpo_metrics.json'),
      `${JSON.stringify({ loss, limits, steps, evals, report }, null, 2)}\n`,
    );
    return { steps, status: 'completed', evals, report, lastCheckpoint: run.lastCheckpoint };
  } finally {
    await engine.close();
  }
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
  const tensors = trainableTensors(values, engine.trainableShapes);
  if (method === 'lora') {
    await saveLoraAdapter(options.outDir, { config: lora, baseModel: options.modelDir, tensors });
  } else {
    // Tied weights are one tensor in the graph; everything not trained is copied from the base.
    const all = new Map(model.weights);
    for (const [n, t] of tensors) all.set(n, t);
    await saveHfModel(options.outDir, options.modelDir, all);
  }
}
