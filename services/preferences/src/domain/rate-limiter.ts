/**
 * Token buckets keyed by caller: each key holds up to `burst` tokens, refilled at
 * `ratePerSecond`; a call takes one. In memory, per process: with several replicas each
 * enforces its own share.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new RangeError(
        `rate limiter needs ratePerSecond > 0 and burst >= 1, got ${String(ratePerSecond)}/${String(burst)}`,
      );
  }

  /** Takes a token for `key`: 0 when allowed, else the milliseconds until one is available. */
  take(key: string): number {
    const t = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((t - bucket.at) * this.ratePerSecond) / 1000,
    );
    bucket.at = t;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / this.ratePerSecond);
  }
}
