import { describe, expect, it } from 'vitest';
import { dpoMetrics } from './dpo-metrics.js';
import { pairBatch, responseLengths } from './preference-pair.js';

describe('pairBatch', () => {
  it('puts chosen rows first, rejected rows after, and targets only response tokens', () => {
    const batch = pairBatch([
      { prompt: [1, 5], chosen: [7, 8], rejected: [9] },
      { prompt: [1], chosen: [4], rejected: [6, 6, 6] },
    ]);
    expect(batch.batchSize).toBe(4);
    expect(batch.seqLen).toBe(4);
    const rows = (a: BigInt64Array): number[][] =>
      [0, 1, 2, 3].map((b) => [...a.slice(b * 4, b * 4 + 4)].map(Number));
    expect(rows(batch.inputIds)).toEqual([
      [1, 5, 7, 8],
      [1, 4, 0, 0],
      [1, 5, 9, 0],
      [1, 6, 6, 6],
    ]);
    expect(rows(batch.labels)).toEqual([
      [-100, 7, 8, -100],
      [4, -100, -100, -100],
      [-100, 9, -100, -100],
      [6, 6, 6, -100],
    ]);
    expect(rows(batch.segmentIds)).toEqual([
      [1, 1, 1, 1],
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ]);
    expect(batch.targetTokens).toBe(2 + 1 + 1 + 3);
    expect(responseLengths([{ prompt: [1], chosen: [2, 3], rejected: [4] }])).toEqual([2, 1]);
  });

  it('refuses empty prompts and responses, naming the pair', () => {
    expect(() => pairBatch([])).toThrow('a DPO batch needs at least one pair');
    expect(() =>
      pairBatch([
        { prompt: [1], chosen: [2], rejected: [3] },
        { prompt: [1], chosen: [], rejected: [3] },
      ]),
    ).toThrow('pair 1: a response is empty');
  });
});

describe('dpoMetrics', () => {
  it('computes TRL-named rewards, margins, accuracies and log-probs', () => {
    // Pair 0: chosen up 2, rejected down 1 -> win. Pair 1: chosen down 1, rejected up 1 -> loss.
    const m = dpoMetrics(0.5, [-8, -11, -21, -29], [-10, -10, -20, -30], 0.1);
    expect(m.loss).toBe(0.5);
    expect(m['rewards/chosen']).toBeCloseTo((0.2 - 0.1) / 2, 12);
    expect(m['rewards/rejected']).toBeCloseTo((-0.1 + 0.1) / 2, 12);
    expect(m['rewards/margins']).toBeCloseTo((0.3 - 0.2) / 2, 12);
    expect(m['rewards/accuracies']).toBe(0.5);
    expect(m['logps/chosen']).toBe(-9.5);
    expect(m['logps/rejected']).toBe(-25);
  });
});
