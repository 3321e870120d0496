import { loadFourBitModel } from '../quant/load-four-bit-model.js';
import { loadModelForInference } from '../quant/load-quantized-model.js';
import type { QuantOptions } from '../quant/quant-config.js';
import { loadLoraAdapter, type LoraAdapter } from '../peft/adapter-files.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { initLoraTensors } from '../peft/lora-init.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { createDefaultEngine } from './default-engine.js';
import { evaluateRows, type EvalResult } from './evaluate-rows.js';
import { prepareSftRows } from './sft-rows.js';
import type { TrainingEngineFactory } from './training-engine.js';

/** Options of {@link evaluateSft}. */
export interface EvaluateSftOptions {
  /** Hugging Face model directory. Required. */
  readonly modelDir: string;
  /** PEFT LoRA adapter applied on top of the model. Default: none. */
  readonly adapterDir?: string;
  /** Evaluation data (same formats as training). Required. */
  readonly dataPath: string;
  /** Rows per forward pass. Default 4. */
  readonly batchSize?: number;
  /** Tokens per row; longer examples are truncated. Default 256. */
  readonly seqLen?: number;
  /** Pack several examples per row. Default true (the loss is the same either way; packing is faster). */
  readonly pack?: boolean;
  /** Drop bad records (counted) instead of failing. Default false. */
  readonly skipBadRecords?: boolean;
  /** Builds the compute engine. Default: this library's Llama graph. */
  readonly engineFactory?: TrainingEngineFactory;
  /**
   * Hold the base 4-bit as QLoRA trains it (a full-precision directory is quantized on load, a
   * bitsandbytes 4-bit one read as stored; see loadFourBitModel). Default: fp32 (a bitsandbytes
   * directory is dequantized).
   */
  readonly quant?: QuantOptions;
}

/** {@link EvalResult} plus what was evaluated. */
export interface SftEvaluation extends EvalResult {
  readonly examples: number;
  readonly rejectedRecords: number;
  readonly truncatedExamples: number;
}

/**
 * Mean token loss (completion tokens only, prompts masked as in training) and perplexity of a
 * model, optionally with a LoRA adapter, on a data file.
 */
export async function evaluateSft(options: EvaluateSftOptions): Promise<SftEvaluation> {
  const model =
    options.quant === undefined
      ? await loadModelForInference(options.modelDir)
      : (await loadFourBitModel(options.modelDir, options.quant)).model;
  const tokenizer = await TextTokenizer.load(options.modelDir, model.config.vocabSize);
  let adapter: Pick<LoraAdapter, 'config' | 'tensors'> | undefined =
    options.adapterDir === undefined
      ? undefined
      : await loadLoraAdapter(options.adapterDir, model.config);
  if (adapter === undefined && (model.quantized?.size ?? 0) > 0) {
    // A 4-bit base runs in the adapter graph only (its weights are frozen initializers); a rank-1
    // adapter with B = 0 adds exactly nothing, so this is the plain 4-bit model's loss.
    const config = createLoraConfig({ r: 1, targetModules: ['q_proj'] });
    adapter = { config, tensors: initLoraTensors(model.config, config, SeededRandom.fromSeed(0)) };
  }
  const data = await prepareSftRows(options.dataPath, tokenizer, {
    seqLen: options.seqLen ?? 256,
    pack: options.pack ?? true,
    skipBadRecords: options.skipBadRecords ?? false,
  });
  const engine = await (options.engineFactory ?? createDefaultEngine)(
    model,
    adapter === undefined ? { method: 'full' } : { method: 'lora', lora: adapter.config },
  );
  try {
    const trainable = new Map<string, Float32Array>();
    for (const name of engine.trainableShapes.keys()) {
      const t = adapter === undefined ? model.weights.get(name) : adapter.tensors.get(name);
      if (t === undefined) throw new Error(`no value for "${name}"`);
      trainable.set(name, t.data);
    }
    const r = await evaluateRows(engine, data.rows, options.batchSize ?? 4, trainable);
    return {
      ...r,
      examples: data.examples,
      rejectedRecords: data.rejected.length,
      truncatedExamples: data.stats.truncated,
    };
  } finally {
    await engine.close();
  }
}
