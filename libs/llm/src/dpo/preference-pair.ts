import { IGNORE_INDEX, type PackedRow } from '../data/pack-sequences.js';
import { toTrainingBatch, type TrainingBatch } from '../data/training-batch.js';

/** One tokenized preference pair: the prompt and the two responses, as token ids. */
export interface PreferencePair {
  /** Prompt tokens (BOS included when the model wants one); never trained on. */
  readonly prompt: readonly number[];
  /** The preferred response's tokens (EOS included when the data adds one). */
  readonly chosen: readonly number[];
  /** The dispreferred response's tokens. */
  readonly rejected: readonly number[];
  /** Multiplies this pair's loss (for example annotator agreement). Default 1. */
  readonly weight?: number;
}

/**
 * The DPO batch of a list of pairs: rows 0..P−1 are prompt+chosen, rows P..2P−1 prompt+rejected,
 * right-padded to the longest row (segment 0). Only response tokens are targets, so each row's
 * `sequence_log_probs` is log p(response | prompt) summed over the response's tokens.
 */
export function pairBatch(pairs: readonly PreferencePair[]): TrainingBatch {
  if (pairs.length === 0) throw new RangeError('a DPO batch needs at least one pair');
  const sequences = [
    ...pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })),
    ...pairs.map((p) => ({ prompt: p.prompt, response: p.rejected })),
  ];
  const width = Math.max(...sequences.map((s) => s.prompt.length + s.response.length));
  const rows = sequences.map(({ prompt, response }, i): PackedRow => {
    if (prompt.length === 0)
      throw new RangeError(`pair ${i % pairs.length}: the prompt is empty (it needs at least BOS)`);
    if (response.length === 0)
      throw new RangeError(`pair ${i % pairs.length}: a response is empty`);
    const n = prompt.length + response.length;
    const inputIds = new Int32Array(width);
    const positionIds = new Int32Array(width);
    const segmentIds = new Int32Array(width);
    const labels = new Int32Array(width).fill(IGNORE_INDEX);
    inputIds.set(prompt);
    inputIds.set(response, prompt.length);
    for (let t = 0; t < n; t++) {
      positionIds[t] = t;
      segmentIds[t] = 1;
    }
    // Position t predicts token t+1; only response tokens are targets.
    for (let t = prompt.length - 1; t < n - 1; t++) labels[t] = inputIds[t + 1] ?? 0;
    return { inputIds, positionIds, segmentIds, labels, targetTokens: response.length };
  });
  return toTrainingBatch(rows);
}

/** Per-row response lengths in {@link pairBatch}'s order (chosen rows, then rejected rows). */
export function responseLengths(pairs: readonly PreferencePair[]): number[] {
  return [...pairs.map((p) => p.chosen.length), ...pairs.map((p) => p.rejected.length)];
}
