import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, packSequences } from './pack-sequences.js';
import { toTrainingBatch } from './training-batch.js';

const I = IGNORE_INDEX;

describe('packSequences', () => {
  it('packs examples with restarting positions, own segments, and no cross-example targets', () => {
    // Example A: prompt 11 12, completion 13 14. Example B: prompt 21, completion 22 23.
    const a = { ids: [11, 12, 13, 14], trainMask: [false, false, true, true] };
    const b = { ids: [21, 22, 23], trainMask: [false, true, true] };
    const { rows } = packSequences([a, b], 8);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(Array.from(row.inputIds)).toEqual([11, 12, 13, 14, 21, 22, 23, 0]);
    expect(Array.from(row.positionIds)).toEqual([0, 1, 2, 3, 0, 1, 2, 0]);
    expect(Array.from(row.segmentIds)).toEqual([1, 1, 1, 1, 2, 2, 2, 0]);
    // Position 3 (last of A) must not target B's first token 21; prompt tokens are never targets.
    expect(Array.from(row.labels)).toEqual([I, 13, 14, I, 22, 23, I, I]);
    expect(row.targetTokens).toBe(4);
  });

  it('starts a new row when an example does not fit, truncates long ones and drops untrainable ones', () => {
    const long = { ids: [1, 2, 3, 4, 5, 6], trainMask: [false, true, true, true, true, true] };
    const fits = { ids: [7, 8, 9], trainMask: [false, false, true] };
    const promptOnly = {
      ids: [1, 2, 3, 4, 5, 6],
      trainMask: [false, false, false, false, true, true],
    };
    const { rows, stats } = packSequences([fits, long, promptOnly], 4);
    expect(rows.map((r) => Array.from(r.inputIds))).toEqual([
      [7, 8, 9, 0],
      [1, 2, 3, 4],
    ]);
    expect(Array.from(rows[1]!.labels)).toEqual([2, 3, 4, I]);
    expect(stats).toEqual({ truncated: 2, droppedEmpty: 1 });
  });

  it('keeps one example per row when packing is off', () => {
    const x = { ids: [1, 2], trainMask: [true, true] };
    const { rows } = packSequences([x, x], 8, false);
    expect(rows).toHaveLength(2);
    expect(Array.from(rows[1]!.segmentIds)).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('stacks rows into int64 [B, T] tensors', () => {
    const { rows } = packSequences(
      [
        { ids: [1, 2, 3], trainMask: [true, true, true] },
        { ids: [4, 5, 6], trainMask: [true, true, true] },
      ],
      3,
    );
    const batch = toTrainingBatch(rows);
    expect(batch.batchSize).toBe(2);
    expect(Array.from(batch.inputIds)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(Array.from(batch.labels)).toEqual([2n, 3n, -100n, 5n, 6n, -100n]);
    expect(batch.targetTokens).toBe(4);
  });
});
