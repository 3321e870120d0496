import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { formatDigest } from './digest.js';
import { ArtifactIntegrityError } from './errors.js';

/**
 * Passes a blob through while hashing it, always holding back the latest chunk. At the end the
 * held chunk is released only if the content hashed to the expected digest; otherwise the stream
 * fails with an {@link ArtifactIntegrityError}. A reader that treats a stream error as failure
 * (as every reader must) therefore never completes a read of corrupted data.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private held: Buffer | undefined;

  constructor(
    /** The digest the content must hash to, `sha256:<hex>`. */
    readonly digest: string,
    private readonly expectedHex: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    if (this.held !== undefined) this.push(this.held);
    this.held = chunk;
    done();
  }

  override _flush(done: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedHex) {
      done(new ArtifactIntegrityError(this.digest, formatDigest(actual), 'the stored bytes'));
      return;
    }
    if (this.held !== undefined) this.push(this.held);
    this.held = undefined;
    done();
  }
}
