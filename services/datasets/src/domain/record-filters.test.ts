import { describe, expect, it } from 'vitest';
import type { CanonicalRecord } from './canonical-record.js';
import { findEmptyTurn, findJunk, findPii } from './record-filters.js';
import { isEvalRecord } from './record-split.js';
import { distribution, SplitAccumulator } from './split-statistics.js';

const conv = (...contents: string[]): CanonicalRecord => ({
  type: 'conversation',
  messages: contents.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content })),
});

describe('filters', () => {
  it('finds empty and whitespace-only turns', () => {
    expect(findEmptyTurn(conv('q', ' \n\t'))).toEqual({ detail: 'turn 2 (assistant) is empty' });
    expect(findEmptyTurn(conv('q', 'a'))).toBeUndefined();
  });

  it('finds runs of one character longer than allowed, and repeated trigrams', () => {
    const junk = { maxCharRun: 10, maxRepeatedNgramFraction: 0.3 };
    expect(findJunk(conv('q', `a${'='.repeat(11)}b`), junk)).toEqual({
      detail: 'run of 11 "=" > 10',
    });
    expect(findJunk(conv('q', `a${'='.repeat(10)}b`), junk)).toBeUndefined();
    const spam = Array.from({ length: 8 }, () => 'buy cheap pills').join(' ');
    expect(findJunk(conv('q', spam), junk)?.detail).toMatch(
      /^trigram "buy cheap pills" is 36% of the turn's trigrams > 30%$/,
    );
    expect(
      findJunk(
        conv('q', 'the quick brown fox jumps over the lazy dog near the river bank today'),
        junk,
      ),
    ).toBeUndefined();
    expect(
      findJunk(conv('q', spam), { maxCharRun: 0, maxRepeatedNgramFraction: 0 }),
    ).toBeUndefined();
  });

  it('finds and redacts e-mail addresses and phone numbers', () => {
    const found = findPii(
      conv('mail ada@example.co.uk or call +44 20 7946 0958 or (415) 555-0100', 'ok'),
      ['email', 'phone'],
    );
    expect(found?.matches).toBe(3);
    expect(found?.redacted).toEqual(conv('mail [EMAIL] or call [PHONE] or [PHONE]', 'ok'));
    expect(
      findPii(conv('version 1.2.3 of 2024, 42 items', 'ok'), ['email', 'phone']),
    ).toBeUndefined();
    expect(findPii(conv('a@b.io'), ['phone'])).toBeUndefined();
  });
});

describe('split and statistics', () => {
  it('puts a record on the same side whatever else is in the dataset, near the asked fraction', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `record-${i}`);
    const first = ids.map((id) => isEvalRecord(id, 5n, 0.2));
    expect(ids.map((id) => isEvalRecord(id, 5n, 0.2))).toEqual(first);
    const share = first.filter(Boolean).length / ids.length;
    // 4000 Bernoulli(0.2) draws: standard deviation 0.0063; 0.03 is almost 5 of them.
    expect(Math.abs(share - 0.2)).toBeLessThan(0.03);
    expect(ids.some((id) => isEvalRecord(id, 6n, 0.2) !== isEvalRecord(id, 5n, 0.2))).toBe(true);
    expect(ids.some((id) => isEvalRecord(id, 5n, 0))).toBe(false);
  });

  it('computes nearest-rank percentiles and counts by hand', () => {
    // Sorted 1..10: p50 is the 5th value, p95 the 10th; mean 5.5.
    expect(distribution([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])).toEqual({
      min: 1,
      max: 10,
      mean: 5.5,
      p50: 5,
      p95: 10,
      total: 55,
    });
    // Repeated values (percentiles come from counts of each value): sorted 1 1 2 3 3 3 7 7 7 7.
    expect(distribution([3, 3, 3, 1, 1, 7, 7, 7, 7, 2])).toEqual({
      min: 1,
      max: 7,
      mean: 4.1,
      p50: 3,
      p95: 7,
      total: 41,
    });
    expect(distribution([])).toEqual({ min: 0, max: 0, mean: 0, p50: 0, p95: 0, total: 0 });
    const acc = new SplitAccumulator();
    acc.add(conv('ab', 'cde'));
    acc.add({ type: 'text', text: 'x'.repeat(100) });
    const f = acc.figures();
    expect(f.recordCount).toBe(2);
    // "ab\ncde" is 6 characters.
    expect([f.characters.min, f.characters.max]).toEqual([6, 100]);
    expect([f.turns.min, f.turns.max]).toEqual([1, 2]);
    expect(f.roleCounts).toEqual({ assistant: 1, user: 1 });
    expect(f.characterHistogram).toEqual({ '<=128': 1, '<=64': 1 });
  });
});
