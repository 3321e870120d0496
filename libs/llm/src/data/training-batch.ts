import type { PackedRow } from './pack-sequences.js';

/**
 * One micro-batch in the layout of the training graph's inputs: row-major [B, T] int64 tensors
 * (`input_ids`, `position_ids`, `segment_ids`, `labels`), plus the number of target tokens.
 */
export interface TrainingBatch {
  /** B: rows in this micro-batch. */
  readonly batchSize: number;
  /** T: positions per row. */
  readonly seqLen: number;
  /** [B, T] token ids. */
  readonly inputIds: BigInt64Array;
  /** [B, T] positions, restarting at 0 per packed example. */
  readonly positionIds: BigInt64Array;
  /** [B, T] segment per position, 0 = padding. */
  readonly segmentIds: BigInt64Array;
  /** [B, T] shifted targets, -100 = ignored. */
  readonly labels: BigInt64Array;
  /** Labels that are not ignored. */
  readonly targetTokens: number;
}

/** Stacks packed rows (all of one length) into a {@link TrainingBatch}. */
export function toTrainingBatch(rows: readonly PackedRow[]): TrainingBatch {
  const first = rows[0];
  if (first === undefined) throw new RangeError('a training batch needs at least one row');
  const seqLen = first.inputIds.length;
  const size = rows.length * seqLen;
  const inputIds = new BigInt64Array(size);
  const positionIds = new BigInt64Array(size);
  const segmentIds = new BigInt64Array(size);
  const labels = new BigInt64Array(size);
  let targetTokens = 0;
  rows.forEach((row, b) => {
    if (row.inputIds.length !== seqLen)
      throw new RangeError(`row ${b} has ${row.inputIds.length} positions, expected ${seqLen}`);
    for (let t = 0; t < seqLen; t++) {
      const i = b * seqLen + t;
      inputIds[i] = BigInt(row.inputIds[t] ?? 0);
      positionIds[i] = BigInt(row.positionIds[t] ?? 0);
      segmentIds[i] = BigInt(row.segmentIds[t] ?? 0);
      labels[i] = BigInt(row.labels[t] ?? 0);
    }
    targetTokens += row.targetTokens;
  });
  return {
    batchSize: rows.length,
    seqLen,
    inputIds,
    positionIds,
    segmentIds,
    labels,
    targetTokens,
  };
}
