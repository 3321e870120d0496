import { createHash, randomBytes } from 'node:crypto';

/** Prefix of annotator token secrets: tells them apart from JWTs (which contain dots) at a glance. */
export const TOKEN_PREFIX = 'lpt_';

/** A new bearer secret: 256 random bits, base64url, prefixed. Returned once, never stored. */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * The stored form of a secret. A plain sha256 suffices (no salt or slow hash) because the
 * secret is 256 random bits, not a password: there is nothing to guess from a dictionary.
 */
export function hashTokenSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
