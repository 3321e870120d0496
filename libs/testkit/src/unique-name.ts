import { randomBytes } from 'node:crypto';

/**
 * A name unlikely to collide with other tests sharing the same server (streams, buckets,
 * subjects, databases): `<prefix>_<12 hex>`. The prefix must already be a valid name for the
 * resource; only lowercase letters, digits, `_` and `-` are accepted so the result is valid for
 * NATS streams, object-store buckets and PostgreSQL identifiers alike.
 */
export function uniqueName(prefix: string): string {
  if (!/^[a-z][a-z0-9_-]{0,40}$/.test(prefix)) {
    throw new Error(
      `uniqueName: prefix "${prefix}" must start with a lowercase letter and hold only [a-z0-9_-], at most 41 characters`,
    );
  }
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
