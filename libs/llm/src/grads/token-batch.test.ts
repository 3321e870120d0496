import { describe, expect, it } from 'vitest';
import { parseTokenBatch } from './token-batch.js';

const big = (a: BigInt64Array): number[] => Array.from(a, Number);

describe('parseTokenBatch', () => {
  it('rows: every token after the first is a target; short rows are right-padded', () => {
    const b = parseTokenBatch('[[1, 5, 6, 7], [1, 9]]', 't.json', 10);
    expect([b.batchSize, b.seqLen, b.targetTokens]).toEqual([2, 4, 4]);
    expect(big(b.inputIds)).toEqual([1, 5, 6, 7, 1, 9, 0, 0]);
    expect(big(b.labels)).toEqual([5, 6, 7, -100, 9, -100, -100, -100]);
    expect(big(b.segmentIds)).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect(big(b.positionIds)).toEqual([0, 1, 2, 3, 0, 1, 0, 0]);
  });

  it('loss_mask and labels follow Hugging Face (unshifted) semantics', () => {
    const m = parseTokenBatch(
      '{"input_ids": [[1, 5, 6, 7]], "loss_mask": [[0, 0, 1, 1]]}',
      't.json',
      10,
    );
    expect(big(m.labels)).toEqual([-100, 6, 7, -100]);
    const l = parseTokenBatch(
      '{"input_ids": [[1, 5, 6, 7]], "labels": [[-100, -100, 6, -100]]}',
      't.json',
      10,
    );
    expect(big(l.labels)).toEqual([-100, 6, -100, -100]);
    expect(l.targetTokens).toBe(1);
  });

  it('names the file and the bad field', () => {
    expect(() => parseTokenBatch('[[1, 2', 'a.json', 10)).toThrow(/^a\.json: not valid JSON/);
    expect(() => parseTokenBatch('[[1, 12]]', 'a.json', 10)).toThrow(
      'a.json: tokens[0][1] must be a token id in [0, 10), got 12',
    );
    expect(() =>
      parseTokenBatch('{"input_ids": [[1, 2]], "loss_mask": [[1]]}', 'a.json', 10),
    ).toThrow('a.json: loss_mask[0] must have the same length as input_ids[0]');
    expect(() => parseTokenBatch('{"input_ids": [[1, 2]]}', 'a.json', 10)).toThrow(
      'expected "labels" or "loss_mask"',
    );
    expect(() => parseTokenBatch('[[1]]', 'a.json', 10)).toThrow('a.json: no target tokens');
  });
});
