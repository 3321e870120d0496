import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with the wait until the next token, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(100); // 1 token at 10/s
    expect(limiter.take('b')).toBe(0); // other callers keep their own bucket
    now = 100;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(100);
    now = 10_000;
    expect([0, 1, 2, 3].map(() => limiter.take('a'))).toEqual([0, 0, 0, 100]); // capped at burst
  });
});
