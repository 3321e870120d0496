import type { Readable } from 'node:stream';

/** Where bytes come from: a Node stream, a web `ReadableStream`, a generator, or one buffer. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

/** A stored blob. */
export interface BlobInfo {
  /** `sha256:<64 hex>`: the blob's name and its check. */
  digest: string;
  /** The 64 hex digits alone. */
  sha256: string;
  /** Length in bytes. */
  size: number;
}

/** Options for {@link ArtifactStore.put}. */
export interface PutOptions {
  /**
   * The digest the caller expects (an upload that declared it). When the content hashes to
   * something else nothing is stored and `put` throws an `ArtifactIntegrityError`.
   */
  expectedDigest?: string;
}

/**
 * Content-addressed, immutable blobs: datasets, models, adapters, checkpoints. One store per
 * service namespace. Implementations: a local directory and NATS JetStream Object Store; both
 * pass the same conformance suite.
 */
export interface ArtifactStore {
  /** The service's namespace (directory prefix or bucket suffix). */
  readonly namespace: string;
  /**
   * Stores the bytes and returns their digest. Atomic: until it resolves no blob is visible, and
   * a crash part-way leaves none. Storing bytes that are already present is a cheap no-op.
   */
  put(source: ByteSource, options?: PutOptions): Promise<BlobInfo>;
  /**
   * A stream of the blob, verified while read: the last chunk is released only once the whole
   * content hashed to `digest`, otherwise the stream fails with an `ArtifactIntegrityError`
   * naming it. Rejects with `ArtifactNotFoundError` when absent, `InvalidDigestError` when
   * `digest` is malformed.
   */
  get(digest: string): Promise<Readable>;
  /** Whether the blob is stored. */
  has(digest: string): Promise<boolean>;
  /** Its size; `ArtifactNotFoundError` when absent. Does not read the content. */
  stat(digest: string): Promise<BlobInfo>;
  /** Removes the blob; false when it was not there. For garbage collection. */
  delete(digest: string): Promise<boolean>;
  /** Every stored blob, in digest order. For garbage collection. */
  list(): AsyncIterable<BlobInfo>;
}
