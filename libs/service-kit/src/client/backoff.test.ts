import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';

describe('backoffDelay', () => {
  it('draws below a ceiling that doubles up to the maximum', () => {
    const top = (): number => 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((r) => backoffDelay(DEFAULT_BACKOFF, r, top))).toEqual([
      99, 199, 399, 799, 1599, 1999,
    ]);
    expect(backoffDelay(DEFAULT_BACKOFF, 3, () => 0)).toBe(0);
    expect(backoffDelay(DEFAULT_BACKOFF, 2, () => 0.5)).toBe(200);
  });
});
