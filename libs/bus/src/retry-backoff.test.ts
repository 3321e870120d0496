import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './retry-backoff.js';

describe('backoffDelayMs', () => {
  it('doubles from one second by default and stops at a minute', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(undefined, n))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelayMs(undefined, 20)).toBe(60_000);
  });

  it('follows the given schedule', () => {
    const backoff = { initialMs: 50, factor: 3, maxMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(backoff, n))).toEqual([
      50, 150, 450, 1000, 1000,
    ]);
  });

  it('rejects a schedule that shrinks or goes negative', () => {
    expect(() => backoffDelayMs({ factor: 0.5 }, 1)).toThrow(/invalid backoff/);
    expect(() => backoffDelayMs({ initialMs: -1 }, 1)).toThrow(/invalid backoff/);
  });
});
