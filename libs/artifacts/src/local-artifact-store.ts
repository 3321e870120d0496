import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import type { ArtifactStore, BlobInfo, ByteSource, PutOptions } from './artifact-store.js';
import { byteChunks } from './byte-chunks.js';
import { assertNamespace, digestHex, formatDigest } from './digest.js';
import { ArtifactIntegrityError, ArtifactNotFoundError } from './errors.js';
import { fsyncDir } from './fsync-dir.js';
import { DigestVerifier } from './verified-stream.js';

/** Options for {@link LocalArtifactStore}. */
export interface LocalArtifactStoreOptions {
  /** Base directory shared by all services (trusted configuration). Required. */
  root: string;
  /** The service's namespace: blobs live under `<root>/<namespace>/`. Required. */
  namespace: string;
}

const SHARD = /^[0-9a-f]{2}$/;
const REST = /^[0-9a-f]{62}$/;

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Blobs in a local directory, the embedded default:
 * `<root>/<namespace>/sha256/<first 2 hex>/<other 62 hex>`, read-only files.
 *
 * A put streams into `<root>/<namespace>/tmp/<random>.partial` while hashing, fsyncs it, then
 * renames it to its digest path and fsyncs the directory: a crash at any point leaves either no
 * blob or a complete one, never a partial file under a real name. Partial files left by crashes
 * are removed by {@link sweepPartialWrites}.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly namespace: string;
  private readonly base: string;
  private readonly blobs: string;
  private readonly tmp: string;

  constructor(options: LocalArtifactStoreOptions) {
    this.namespace = assertNamespace(options.namespace);
    this.base = join(options.root, this.namespace);
    this.blobs = join(this.base, 'sha256');
    this.tmp = join(this.base, 'tmp');
  }

  /** The file a blob lives in; the digest is checked before it becomes a path. */
  pathOf(digest: string): string {
    const hex = digestHex(digest);
    return join(this.blobs, hex.slice(0, 2), hex.slice(2));
  }

  async put(source: ByteSource, options: PutOptions = {}): Promise<BlobInfo> {
    const expectedHex =
      options.expectedDigest === undefined ? undefined : digestHex(options.expectedDigest);
    await mkdir(this.tmp, { recursive: true });
    const partial = join(this.tmp, `${process.pid}-${randomBytes(8).toString('hex')}.partial`);
    const handle = await open(partial, 'wx', 0o600);
    let committed = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of byteChunks(source)) {
          hash.update(chunk);
          size += chunk.byteLength;
          await handle.write(chunk);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      const info: BlobInfo = { digest: formatDigest(sha256), sha256, size };
      if (expectedHex !== undefined && expectedHex !== sha256) {
        throw new ArtifactIntegrityError(
          formatDigest(expectedHex),
          info.digest,
          'the uploaded bytes',
        );
      }
      const target = this.pathOf(info.digest);
      const shardDir = join(this.blobs, sha256.slice(0, 2));
      if (await exists(target)) return info; // same bytes already stored: content addressing dedups
      await mkdir(shardDir, { recursive: true });
      await chmod(partial, 0o444);
      // Two writers of the same bytes may both get here; rename replaces atomically with
      // identical content, so either outcome is right.
      await rename(partial, target);
      committed = true;
      await fsyncDir(shardDir);
      await fsyncDir(this.blobs);
      return info;
    } finally {
      if (!committed) await unlink(partial).catch(() => undefined);
    }
  }

  async get(digest: string): Promise<Readable> {
    const path = this.pathOf(digest);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) throw new ArtifactNotFoundError(digest, this.namespace);
      throw error;
    }
    const verifier = new DigestVerifier(digest, digestHex(digest));
    // pipeline destroys the verifier with any read error, so the reader sees it.
    pipeline(handle.createReadStream(), verifier, () => undefined);
    return verifier;
  }

  async has(digest: string): Promise<boolean> {
    return exists(this.pathOf(digest));
  }

  async stat(digest: string): Promise<BlobInfo> {
    const path = this.pathOf(digest);
    try {
      const { size } = await stat(path);
      return { digest, sha256: digestHex(digest), size };
    } catch (error) {
      if (isMissing(error)) throw new ArtifactNotFoundError(digest, this.namespace);
      throw error;
    }
  }

  async delete(digest: string): Promise<boolean> {
    const path = this.pathOf(digest);
    try {
      await unlink(path);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await fsyncDir(join(this.blobs, digestHex(digest).slice(0, 2)));
    return true;
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const shard of (await readdirOrEmpty(this.blobs)).filter((n) => SHARD.test(n)).sort()) {
      for (const rest of (await readdirOrEmpty(join(this.blobs, shard)))
        .filter((n) => REST.test(n))
        .sort()) {
        const sha256 = shard + rest;
        const digest = formatDigest(sha256);
        try {
          yield { digest, sha256, size: (await stat(join(this.blobs, shard, rest))).size };
        } catch (error) {
          if (!isMissing(error)) throw error; // deleted while listing: skip it
        }
      }
    }
  }

  /**
   * Removes partial files of writes that never finished (their process crashed), if older than
   * `olderThanMs` (default one hour: younger ones may belong to writes still running). Returns how
   * many were removed.
   */
  async sweepPartialWrites(olderThanMs = 3_600_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const name of await readdirOrEmpty(this.tmp)) {
      if (!name.endsWith('.partial')) continue;
      const path = join(this.tmp, name);
      try {
        if ((await stat(path)).mtimeMs <= cutoff) {
          await unlink(path);
          removed++;
        }
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    return removed;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}
