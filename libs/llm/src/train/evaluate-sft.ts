import { loadLlamaModel } from '../model/llama-model.js';
import { loadLoraAdapter } from '../peft/adapter-files.js';
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
  const model = await loadLlamaModel(options.modelDir);
  const tokenizer = await TextTokenizer.load(options.modelDir, model.config.vocabSize);
  const adapter =
    options.adapterDir === undefined
      ? undefined
      : await loadLoraAdapter(options.adapterDir, model.config);
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
