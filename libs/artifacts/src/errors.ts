/** A string offered as a digest is not `sha256:<64 lowercase hex>`. */
export class InvalidDigestError extends Error {
  override readonly name = 'InvalidDigestError';
  constructor(readonly value: string) {
    super(
      `invalid artifact digest ${JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value)}: expected "sha256:" followed by 64 lowercase hex digits`,
    );
  }
}

/** A namespace (a service's prefix or bucket) has characters that could escape its directory. */
export class InvalidNamespaceError extends Error {
  override readonly name = 'InvalidNamespaceError';
  constructor(readonly value: string) {
    super(
      `invalid artifact namespace ${JSON.stringify(value)}: use 1-63 of [a-z0-9-], starting with a letter`,
    );
  }
}

/** No blob with this digest is stored. */
export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
  constructor(
    readonly digest: string,
    readonly namespace: string,
  ) {
    super(`artifact ${digest} not found in namespace "${namespace}"`);
  }
}

/**
 * Bytes do not hash to the digest they are stored or declared under: a corrupted blob on read,
 * or an upload whose content differs from the digest the caller declared.
 */
export class ArtifactIntegrityError extends Error {
  override readonly name = 'ArtifactIntegrityError';
  constructor(
    readonly digest: string,
    readonly actualDigest: string,
    readonly context: string,
  ) {
    super(`integrity check failed for artifact ${digest}: ${context} hash to ${actualDigest}`);
  }
}
