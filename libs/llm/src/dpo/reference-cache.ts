import { loadLlamaModel, type LlamaModel } from '../model/llama-model.js';
import type { LlamaEngineOptions } from '../model/llama-engine.js';
import { pairBatch, type PreferencePair } from './preference-pair.js';
import { ReferenceScorer } from './reference-scorer.js';

/** The reference log-probs of a run's training and held-out pairs, computed once for all epochs. */
export interface ReferenceCache {
  /** [c_0..c_n-1, r_0..r_n-1] over the n training pairs. */
  readonly train: Float32Array;
  /** The same over the held-out pairs. */
  readonly eval: Float32Array;
}

/** Scores every training and held-out pair under the frozen reference, once for the run. */
export async function scoreReferenceCache(
  referenceDir: string | undefined,
  model: LlamaModel,
  train: readonly PreferencePair[],
  held: readonly PreferencePair[],
  batchSize: number,
  session: LlamaEngineOptions,
): Promise<ReferenceCache> {
  const referenceModel = referenceDir ? await loadLlamaModel(referenceDir) : model;
  const scorer = await ReferenceScorer.create(referenceModel, session);
  try {
    return {
      train: await scoreReference(scorer, train, batchSize),
      eval: await scoreReference(scorer, held, batchSize),
    };
  } finally {
    await scorer.close();
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
export function gatherRows(cache: Float32Array, idx: readonly number[], n: number): Float32Array {
  const out = new Float32Array(2 * idx.length);
  idx.forEach((i, k) => {
    out[k] = cache[i] ?? NaN;
    out[idx.length + k] = cache[n + i] ?? NaN;
  });
  return out;
}
