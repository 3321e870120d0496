import type { NatsConnection } from '@nats-io/nats-core';
import { Objm, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { pipeline, Readable } from 'node:stream';
import type { ArtifactStore, BlobInfo, ByteSource, PutOptions } from './artifact-store.js';
import { assertNamespace, digestHex, formatDigest, isDigest } from './digest.js';
import { ArtifactIntegrityError, ArtifactNotFoundError } from './errors.js';
import { sweepAbandonedSpools, UploadSpool, type UploadSpoolOptions } from './upload-spool.js';
import { tmpdir } from 'node:os';
import { DigestVerifier } from './verified-stream.js';

/** Options for {@link NatsArtifactStore.open}. */
export interface NatsArtifactStoreOptions extends UploadSpoolOptions {
  /** A connected NATS client; the store does not close it. Required. */
  connection: NatsConnection;
  /** The service's namespace; its bucket is `lathe-<namespace>`. Required. */
  namespace: string;
  /** Where JetStream keeps the bucket when it is created. Default `file`. */
  storage?: 'file' | 'memory';
  /** Replicas when the bucket is created (clustered JetStream). Default 1. */
  replicas?: number;
}

/** The object store's own checksum format: `SHA-256=<padded base64url of the digest>`. */
function natsDigestOf(sha256: string): string {
  const base64 = Buffer.from(sha256, 'hex').toString('base64');
  return `SHA-256=${base64.replaceAll('+', '-').replaceAll('/', '_')}`;
}

/**
 * Blobs in a NATS JetStream Object Store bucket per service (`lathe-<namespace>`), objects named
 * by digest. The object store publishes an object's metadata after its last chunk, so an upload
 * cut short leaves orphan chunks but no visible object. Uploads are spooled first (see
 * {@link UploadSpool}) because the name is the digest of the content.
 */
export class NatsArtifactStore implements ArtifactStore {
  private constructor(
    readonly namespace: string,
    /** The bucket's name. */
    readonly bucket: string,
    private readonly objects: ObjectStore,
    private readonly spool: UploadSpoolOptions,
  ) {}

  /** Opens (creating when missing) the namespace's bucket. */
  static async open(options: NatsArtifactStoreOptions): Promise<NatsArtifactStore> {
    const namespace = assertNamespace(options.namespace);
    const bucket = `lathe-${namespace}`;
    const objects = await new Objm(options.connection).create(bucket, {
      storage: options.storage === 'memory' ? 'memory' : 'file',
      replicas: options.replicas ?? 1,
    });
    const spool: UploadSpoolOptions = {
      ...(options.dir === undefined ? {} : { dir: options.dir }),
      ...(options.memoryLimitBytes === undefined
        ? {}
        : { memoryLimitBytes: options.memoryLimitBytes }),
    };
    return new NatsArtifactStore(namespace, bucket, objects, spool);
  }

  async put(source: ByteSource, options: PutOptions = {}): Promise<BlobInfo> {
    const expectedHex =
      options.expectedDigest === undefined ? undefined : digestHex(options.expectedDigest);
    const spool = await UploadSpool.fill(source, this.spool);
    try {
      const info: BlobInfo = {
        digest: formatDigest(spool.sha256),
        sha256: spool.sha256,
        size: spool.size,
      };
      if (expectedHex !== undefined && expectedHex !== spool.sha256) {
        throw new ArtifactIntegrityError(
          formatDigest(expectedHex),
          info.digest,
          'the uploaded bytes',
        );
      }
      const existing = await this.objects.info(info.digest);
      if (existing !== null && !existing.deleted && existing.digest === natsDigestOf(spool.sha256))
        return info;
      const stored = await this.objects.put({ name: info.digest }, spool.stream());
      // The object store hashed what it received: a mismatch means bytes changed on the way.
      if (stored.digest !== natsDigestOf(spool.sha256) || stored.size !== spool.size) {
        await this.objects.delete(info.digest).catch(() => undefined);
        throw new ArtifactIntegrityError(
          info.digest,
          stored.digest,
          `the bytes NATS stored (${stored.size} bytes)`,
        );
      }
      return info;
    } finally {
      await spool.dispose();
    }
  }

  async get(digest: string): Promise<Readable> {
    const hex = digestHex(digest);
    const result = await this.objects.get(digest);
    if (result === null) throw new ArtifactNotFoundError(digest, this.namespace);
    const verifier = new DigestVerifier(digest, hex);
    pipeline(Readable.fromWeb(result.data), verifier, () => undefined);
    // The client library's own check (missing chunks, its checksum) ends the stream too. It
    // resolves with null or undefined on success, and may reject instead of resolving an error.
    const fail = (error: unknown): void => {
      if (error instanceof Error) verifier.destroy(error);
    };
    result.error.then(fail, fail);
    return verifier;
  }

  async has(digest: string): Promise<boolean> {
    return (await this.live(digest)) !== undefined;
  }

  async stat(digest: string): Promise<BlobInfo> {
    const info = await this.live(digest);
    if (info === undefined) throw new ArtifactNotFoundError(digest, this.namespace);
    return { digest, sha256: digestHex(digest), size: info.size };
  }

  async delete(digest: string): Promise<boolean> {
    if ((await this.live(digest)) === undefined) return false;
    await this.objects.delete(digest);
    return true;
  }

  async *list(): AsyncIterable<BlobInfo> {
    const infos = (await this.objects.list()).filter(
      (info) => !info.deleted && isDigest(info.name),
    );
    infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const info of infos)
      yield { digest: info.name, sha256: digestHex(info.name), size: info.size };
  }

  /**
   * Removes upload spill files left by processes killed mid-upload (in `dir`, default the OS temp
   * directory). Orphan chunks such an upload left in the bucket are not collected yet.
   */
  static sweepAbandonedSpools(dir: string = tmpdir()): Promise<number> {
    return sweepAbandonedSpools(dir);
  }

  private async live(digest: string): Promise<ObjectInfo | undefined> {
    digestHex(digest);
    const info = await this.objects.info(digest);
    return info === null || info.deleted ? undefined : info;
  }
}
