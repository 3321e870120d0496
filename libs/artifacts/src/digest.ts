import { InvalidDigestError, InvalidNamespaceError } from './errors.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const NAMESPACE = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Checks a digest and returns its 64 hex digits. Every name that reaches a filesystem path or a
 * bucket passes here first, so `../../etc/passwd`-style names never get further than this.
 */
export function digestHex(digest: string): string {
  const match = DIGEST.exec(digest);
  if (match === null || match[1] === undefined) throw new InvalidDigestError(digest);
  return match[1];
}

/** `sha256:<hex>` for 64 hex digits. */
export function formatDigest(hex: string): string {
  return `sha256:${hex}`;
}

/** True when `value` is a well-formed digest. */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** Checks a service's namespace (directory prefix or bucket suffix) and returns it. */
export function assertNamespace(namespace: string): string {
  if (!NAMESPACE.test(namespace)) throw new InvalidNamespaceError(namespace);
  return namespace;
}
