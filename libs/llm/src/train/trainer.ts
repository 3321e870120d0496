import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackedRow } from '../data/pack-sequences.js';
import { saveHfModel } from '../merge/save-hf-model.js';
import { loadLlamaModel, type LlamaModel } from '../model/llama-model.js';
import { loadFourBitModel } from '../quant/load-four-bit-model.js';
import { loadQuantizedModel, readBitsAndBytesConfig } from '../quant/load-quantized-model.js';
import type { QuantConfig } from '../quant/quant-config.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm, globalGradNorm } from '../optim/grad-clip.js';
import { createLrSchedule } from '../optim/lr-schedule.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { saveLoraAdapter } from '../peft/adapter-files.js';
import { initLoraTensors } from '../peft/lora-init.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { CheckpointError } from './checkpoint.js';
import { CheckpointedRun, readResumePoint, trainableTensors } from './checkpointed-run.js';
import { accumulateGradients } from './accumulate-gradients.js';
import { evaluateRows } from './evaluate-rows.js';
import { prepareSftRows, type SftRows } from './sft-rows.js';
import {
  createTrainConfig,
  resumeFingerprint,
  TrainConfigError,
  type TrainConfig,
  type TrainOptions,
} from './train-config.js';
import type { TrainingEngine, TrainingEngineFactory } from './training-engine.js';
import { TrainingDivergedError } from './training-diverged-error.js';
import type { TrainingEvent, TrainingProgressListener } from './training-events.js';
import { createDefaultEngine } from './default-engine.js';

/** How a caller follows and controls a run. */
export interface TrainHooks {
  /** Receives progress events between steps. */
  readonly onProgress?: TrainingProgressListener;
  /** Aborting stops the run between steps, after writing a checkpoint of the last completed step. */
  readonly signal?: AbortSignal;
  /** Builds the compute engine. Default: the Llama training graph of this library. */
  readonly engineFactory?: TrainingEngineFactory;
}

/** The outcome of {@link train}. */
export interface TrainResult {
  /** 'completed', or 'cancelled' when the signal aborted the run (the output is then not written). */
  readonly status: 'completed' | 'cancelled';
  /** Optimizer steps completed. */
  readonly step: number;
  readonly totalSteps: number;
  /** Mean token loss of the last step. */
  readonly finalLoss: number;
  /** Held-out loss before training (fresh runs with eval data only). */
  readonly initialEvalLoss: number | undefined;
  /** Held-out loss after training (completed runs with eval data only). */
  readonly evalLoss: number | undefined;
  readonly evalPerplexity: number | undefined;
  /** Where the adapter (LoRA) or model (full) was written, when completed. */
  readonly outputDir: string | undefined;
  /** The last checkpoint written, if any. */
  readonly lastCheckpoint: string | undefined;
  /** Target tokens trained on, over the whole run (resumed parts included). */
  readonly tokensSeen: number;
}

function decays(name: string, shape: readonly number[] | undefined): boolean {
  // Hugging Face's Trainer spares biases and norm scales from weight decay; 1-D tensors are exactly those here.
  return (shape?.length ?? 0) >= 2 && !name.endsWith('.bias');
}

function initialTrainable(
  model: LlamaModel,
  config: TrainConfig,
  engine: TrainingEngine,
  rng: SeededRandom,
): Map<string, Float32Array> {
  const source: ReadonlyMap<string, Float32Tensor> =
    config.lora === undefined
      ? model.weights
      : initLoraTensors(model.config, config.lora, rng.split('lora-init'));
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of engine.trainableShapes) {
    const t = source.get(name);
    const size = shape.reduce((a, d) => a * d, 1);
    if (t === undefined || t.data.length !== size) {
      throw new Error(
        `trainable tensor "${name}" [${shape.join(', ')}] has no matching initial value`,
      );
    }
    // A copy: full fine-tuning must not modify the loaded base weights in place.
    out.set(name, t.data.slice());
  }
  return out;
}

/**
 * Runs a fine-tuning job: full or LoRA, AdamW with warmup and cosine/linear decay, global-norm
 * clipping, gradient accumulation, packed batches, checkpoints every N steps with exact resume, and
 * held-out evaluation. Same seed and data give the same result, whether or not the run was
 * interrupted and resumed.
 *
 * Outputs in `outDir`: the PEFT adapter (LoRA) or Hugging Face model (full), `checkpoints/`, and
 * `training_summary.json`.
 *
 * @throws TrainConfigError, DataFileError, ModelFileError, CheckpointError or TrainingDivergedError,
 *   each naming the option or file at fault
 */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const config = createTrainConfig(options);
  if (config.resumeFrom === undefined && existsSync(join(config.outDir, 'checkpoints', 'latest'))) {
    // Starting over would interleave two runs' checkpoints in one folder.
    throw new CheckpointError(
      config.outDir,
      'holds checkpoints of an earlier run; resume it (--resume) or choose another output directory',
    );
  }
  const emit = (e: TrainingEvent): void => hooks.onProgress?.(e);
  // `model` is dropped once the engine holds the frozen weights (below): not in memory twice.
  // eslint-disable-next-line prefer-const -- one destructuring; `model` is reassigned below
  let { model, quantization }: { model?: LlamaModel; quantization?: BaseQuantization } =
    await loadBase(config);
  const tokenizer = await TextTokenizer.load(config.modelDir, model.config.vocabSize);
  const rng = SeededRandom.fromSeed(config.seed);
  const prep = { seqLen: config.seqLen, pack: config.pack, skipBadRecords: config.skipBadRecords };
  const data = await prepareSftRows(config.dataPath, tokenizer, {
    ...prep,
    order: rng.split('pack'),
  });
  const evalData: SftRows | undefined =
    config.evalDataPath === undefined
      ? undefined
      : await prepareSftRows(config.evalDataPath, tokenizer, prep);

  const microPerEpoch = Math.ceil(data.rows.length / config.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / config.gradAccum);
  const totalSteps = config.maxSteps ?? config.epochs * stepsPerEpoch;
  const schedule = createLrSchedule({
    lr: config.lr,
    totalSteps,
    warmupSteps: Math.min(config.warmupSteps, totalSteps),
    decay: config.decay,
    minLrRatio: config.minLrRatio,
  });
  const fingerprint = resumeFingerprint(config, data.sha256, totalSteps);

  const engine = await (hooks.engineFactory ?? createDefaultEngine)(
    model,
    config.lora === undefined
      ? {
          method: 'full',
          gradientCheckpointing: config.gradientCheckpointing,
          checkpointPolicy: config.checkpointPolicy,
        }
      : {
          method: 'lora',
          lora: config.lora,
          gradientCheckpointing: config.gradientCheckpointing,
          checkpointPolicy: config.checkpointPolicy,
        },
  );
  try {
    const shapes = engine.trainableShapes;
    const trainable = initialTrainable(model, config, engine, rng);
    // Full fine-tuning saves the base's tensors with the trained ones; adapters need none of it.
    const fullWeights = config.lora === undefined ? model.weights : undefined;
    model = undefined;
    const optimizer = new AdamW({
      beta1: config.beta1,
      beta2: config.beta2,
      eps: config.eps,
      weightDecay: config.weightDecay,
      decays: (name) => decays(name, shapes.get(name)),
    });
    const run = new CheckpointedRun({
      outDir: config.outDir,
      fingerprint,
      rng,
      trainable,
      shapes,
      optimizer,
      stepsPerEpoch,
      totalSteps,
      checkpointEvery: config.checkpointEvery,
      keepCheckpoints: config.keepCheckpoints,
      onCheckpoint: emit,
    });
    if (config.resumeFrom !== undefined)
      run.restore(await readResumePoint(config.resumeFrom, fingerprint));

    const runEval = async (): Promise<number | undefined> => {
      if (evalData === undefined) return undefined;
      const r = await evaluateRows(engine, evalData.rows, config.batchSize, trainable);
      emit({
        type: 'eval',
        step: run.step,
        loss: r.loss,
        perplexity: r.perplexity,
        tokens: r.tokens,
      });
      return r.loss;
    };

    let trainableParameters = 0;
    for (const t of trainable.values()) trainableParameters += t.length;
    emit({
      type: 'start',
      startStep: run.step,
      totalSteps,
      stepsPerEpoch,
      examples: data.examples,
      rows: data.rows.length,
      trainableParameters,
      rejectedRecords: data.rejected.length,
      truncatedExamples: data.stats.truncated,
    });
    const initialEvalLoss = config.resumeFrom === undefined ? await runEval() : undefined;

    let epochOrder: { epoch: number; rows: PackedRow[] } | undefined;
    const startedAt = performance.now();
    const firstStep = run.step;
    while (run.step < totalSteps) {
      if (hooks.signal?.aborted === true) {
        await run.saveIfUnsaved();
        return {
          status: 'cancelled',
          step: run.step,
          totalSteps,
          finalLoss: run.lastLoss,
          initialEvalLoss,
          evalLoss: undefined,
          evalPerplexity: undefined,
          outputDir: undefined,
          lastCheckpoint: run.lastCheckpoint,
          tokensSeen: run.tokensSeen,
        };
      }
      const { step, position } = run;
      if (epochOrder?.epoch !== position.epoch) {
        // Each epoch visits the packed rows in its own seeded order.
        const rows = rng.split(`epoch-${position.epoch}`).shuffle([...data.rows]);
        epochOrder = { epoch: position.epoch, rows };
      }
      const micro: PackedRow[][] = [];
      for (let a = 0; a < config.gradAccum; a++) {
        const m = position.stepInEpoch * config.gradAccum + a;
        if (m >= microPerEpoch) break;
        micro.push(epochOrder.rows.slice(m * config.batchSize, (m + 1) * config.batchSize));
      }
      const t0 = performance.now();
      const {
        loss,
        grads,
        targetTokens: stepTokens,
        inputTokens,
      } = await accumulateGradients(engine, micro, trainable, rng, step);
      if (!Number.isFinite(loss))
        throw new TrainingDivergedError(
          config.dataPath,
          step + 1,
          `loss is ${loss}`,
          run.lastCheckpoint,
        );
      const gradNorm =
        config.maxGradNorm > 0
          ? clipGradNorm(grads.values(), config.maxGradNorm)
          : globalGradNorm(grads.values());
      if (!Number.isFinite(gradNorm)) {
        throw new TrainingDivergedError(
          config.dataPath,
          step + 1,
          `gradient norm is ${gradNorm}`,
          run.lastCheckpoint,
        );
      }
      const lr = schedule.lrAt(step);
      optimizer.update(trainable, grads, lr);
      run.advance(loss, stepTokens);
      const now = performance.now();
      const elapsedSeconds = (now - startedAt) / 1000;
      emit({
        type: 'step',
        step: run.step,
        totalSteps,
        epoch: run.position.epoch,
        loss,
        lr,
        gradNorm,
        tokens: stepTokens,
        tokensPerSecond: inputTokens / Math.max(1e-9, (now - t0) / 1000),
        elapsedSeconds,
        etaSeconds: (elapsedSeconds / (run.step - firstStep)) * (totalSteps - run.step),
      });
      if (config.evalEvery > 0 && run.step % config.evalEvery === 0 && run.step < totalSteps)
        await runEval();
      await run.saveIfDue();
    }

    const evalLoss = await runEval();
    const result = (loss: number | undefined): TrainResult => ({
      status: 'completed',
      step: run.step,
      totalSteps,
      finalLoss: run.lastLoss,
      initialEvalLoss,
      evalLoss: loss,
      evalPerplexity: loss === undefined ? undefined : Math.exp(loss),
      outputDir: config.outDir,
      lastCheckpoint: run.lastCheckpoint,
      tokensSeen: run.tokensSeen,
    });
    await mkdir(config.outDir, { recursive: true });
    if (config.lora !== undefined) {
      await saveLoraAdapter(config.outDir, {
        config: config.lora,
        baseModel: config.baseModelName,
        tensors: trainableTensors(trainable, shapes),
      });
      await writeAdapterCard(config, quantization, result(evalLoss));
    } else {
      const weights = new Map(fullWeights);
      for (const [name, t] of trainableTensors(trainable, shapes)) weights.set(name, t);
      await saveHfModel(config.outDir, config.modelDir, weights);
    }
    const done = result(evalLoss);
    const summary = {
      ...done,
      method: config.method,
      dataSha256: data.sha256,
      baseModel: config.baseModelName,
      ...(quantization === undefined ? {} : { quantization }),
    };
    await writeFile(
      join(config.outDir, 'training_summary.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
    return done;
  } finally {
    await engine.close();
  }
}

/** How a QLoRA run held its base: recorded in training_summary.json and the adapter's README. */
export interface BaseQuantization extends QuantConfig {
  /** 'quantized-on-load' (a full-precision directory) or 'bnb-4bit' (a quantized one). */
  readonly source: 'quantized-on-load' | 'bnb-4bit';
  /** The directory the base was read from. */
  readonly modelDir: string;
}

/**
 * The base model of a run: fp32 for full fine-tuning, fp32 (a bitsandbytes directory
 * dequantized) for LoRA, 4-bit projections for QLoRA.
 */
async function loadBase(
  config: TrainConfig,
): Promise<{ model: LlamaModel; quantization: BaseQuantization | undefined }> {
  if (config.method === 'qlora') {
    const base = await loadFourBitModel(config.modelDir, config.quantOptions);
    return {
      model: base.model,
      quantization: { ...base.quant, source: base.source, modelDir: config.modelDir },
    };
  }
  const quantized = (await readBitsAndBytesConfig(config.modelDir)) !== undefined;
  if (!quantized) return { model: await loadLlamaModel(config.modelDir), quantization: undefined };
  if (config.method === 'full') {
    throw new TrainConfigError(
      `modelDir ${config.modelDir} is quantized (bitsandbytes); full fine-tuning needs a full-precision model (use lora or qlora)`,
    );
  }
  return { model: await loadQuantizedModel(config.modelDir), quantization: undefined };
}

/**
 * A model card beside the adapter (PEFT's save_pretrained writes one too): the base model, and
 * for QLoRA how the base was quantized while training, since the adapter was fitted to those
 * 4-bit weights.
 */
async function writeAdapterCard(
  config: TrainConfig,
  quantization: BaseQuantization | undefined,
  result: TrainResult,
): Promise<void> {
  const lines = [
    '---',
    `base_model: ${JSON.stringify(config.baseModelName)}`,
    'library_name: peft',
    'tags:',
    `- ${config.method}`,
    '- lathe',
    '---',
    '',
    `# LoRA adapter (${config.method === 'qlora' ? 'QLoRA' : 'LoRA'}), trained by Lathe`,
    '',
    `- base model: \`${config.baseModelName}\``,
    `- rank ${config.lora?.r ?? '?'}, alpha ${config.lora?.alpha ?? '?'}, modules ${config.lora?.targetModules.join(', ') ?? '?'}`,
    `- ${result.step} optimizer steps, ${result.tokensSeen} target tokens`,
  ];
  if (result.evalLoss !== undefined) {
    lines.push(
      `- held-out loss ${result.initialEvalLoss?.toFixed(4) ?? '?'} -> ${result.evalLoss.toFixed(4)}`,
    );
  }
  if (quantization !== undefined) {
    lines.push(
      '',
      '## Quantized base',
      '',
      `Trained on the base held 4-bit (${quantization.scheme.toUpperCase()}, block size ` +
        `${quantization.blockSize}, double quantization ${quantization.doubleQuant ? 'on' : 'off'}; ` +
        `${quantization.source === 'bnb-4bit' ? 'read from the bitsandbytes directory' : 'quantized on load from'} ` +
        `\`${quantization.modelDir}\`): linear projections 4-bit, embeddings, norms and lm_head in fp32. ` +
        'Apply it to the same 4-bit base or to the full-precision one.',
    );
  }
  await writeFile(join(config.outDir, 'README.md'), `${lines.join('\n')}\n`);
}
