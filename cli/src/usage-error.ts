/** A command line that cannot be run as written (exit code 2); the message says which flag and why. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses a numeric flag value, naming the flag when it is not a number in range.
 *
 * @throws UsageError
 */
export function numberFlag(
  flag: string,
  value: string | undefined,
  kind: 'integer' | 'number' = 'number',
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value.trim() === '' ||
    !Number.isFinite(n) ||
    (kind === 'integer' && !Number.isSafeInteger(n))
  ) {
    throw new UsageError(
      `--${flag} must be ${kind === 'integer' ? 'an integer' : 'a number'}, got "${value}"`,
    );
  }
  return n;
}
