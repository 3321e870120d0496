import type { PackedRow } from '../data/pack-sequences.js';
import { toTrainingBatch } from '../data/training-batch.js';
import type { TrainingEngine } from './training-engine.js';

/** Held-out loss: mean token NLL over every target token, and its perplexity exp(loss). */
export interface EvalResult {
  readonly loss: number;
  readonly perplexity: number;
  /** Target tokens evaluated. */
  readonly tokens: number;
}

/**
 * Evaluates packed rows in micro-batches of `batchSize`: the summed NLL over all batches divided
 * by the total number of target tokens (a token-weighted mean, not a mean of batch means).
 */
export async function evaluateRows(
  engine: TrainingEngine,
  rows: readonly PackedRow[],
  batchSize: number,
  trainable: ReadonlyMap<string, Float32Array>,
): Promise<EvalResult> {
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += batchSize) {
    const batch = toTrainingBatch(rows.slice(i, i + batchSize));
    sum += await engine.lossSum(batch, trainable);
    tokens += batch.targetTokens;
  }
  if (tokens === 0) throw new Error('evaluation data has no target tokens');
  const loss = sum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
