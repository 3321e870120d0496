/** Exponential backoff settings for client retries. */
export interface BackoffPolicy {
  /** Attempts in all, the first included. Default 4. */
  readonly maxAttempts: number;
  /** Ceiling of the first wait, ms. Default 100. */
  readonly initialMs: number;
  /** Ceiling of any wait, ms. Default 2000. */
  readonly maxMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  readonly multiplier: number;
}

/** The defaults documented on {@link BackoffPolicy}. */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  maxAttempts: 4,
  initialMs: 100,
  maxMs: 2000,
  multiplier: 2,
};

/**
 * Wait before retry number `retry` (0 for the first retry): "full jitter", a uniform draw below
 * an exponentially growing ceiling, so clients that failed together do not retry together.
 * `random` is injectable for deterministic tests.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  retry: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** retry);
  return Math.floor(random() * ceiling);
}
