import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import {
  ArtifactIntegrityError,
  ArtifactNotFoundError,
  InvalidDigestError,
  type ArtifactStore,
  type BlobInfo,
} from '../src/index.js';
import { chunked, seededBytes } from './seeded-bytes.js';

/** How the suite reaches one implementation. */
export interface ArtifactStoreHarness {
  /** A store for `namespace`, empty unless the test put something there. */
  open(namespace: string): Promise<ArtifactStore>;
  /** Changes one byte of the stored blob behind the store's back (bit rot, a bad disk). */
  corrupt(store: ArtifactStore, digest: string): Promise<void>;
}

/** A namespace no other test uses. */
export function freshNamespace(): string {
  return `t-${randomBytes(5).toString('hex')}`;
}

/** Reads a stream to the end; on failure returns the error and what had been delivered. */
export async function drain(stream: Readable): Promise<{ bytes: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of stream) parts.push(chunk as Buffer);
    return { bytes: Buffer.concat(parts) };
  } catch (error) {
    return { bytes: Buffer.concat(parts), error };
  }
}

async function listAll(store: ArtifactStore): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of store.list()) out.push(info);
  return out;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Names that must never reach a path or a bucket. */
export const hostileNames = [
  '../../etc/passwd',
  'sha256:../../etc/passwd',
  `sha256:../../${'a'.repeat(58)}`,
  `sha256:${'A'.repeat(64)}`,
  `sha256:${'a'.repeat(63)}`,
  `sha256:${'a'.repeat(65)}`,
  `sha256:${'a'.repeat(63)}\0`,
  `sha256:${'a'.repeat(62)}/x`,
  `sha512:${'a'.repeat(64)}`,
  'a'.repeat(64),
  '',
];

/** The behaviour every artifact store must show, run against each implementation. */
export function artifactStoreSuite(harness: ArtifactStoreHarness): void {
  it('stores a streamed blob under its sha256 and reads back the same bytes', async () => {
    const store = await harness.open(freshNamespace());
    const bytes = seededBytes(300_000, 1);
    const info = await store.put(chunked(bytes, 65_536));
    expect(info).toEqual({
      digest: `sha256:${sha256(bytes)}`,
      sha256: sha256(bytes),
      size: bytes.length,
    });
    const { bytes: read, error } = await drain(await store.get(info.digest));
    expect(error).toBeUndefined();
    expect(read.equals(bytes)).toBe(true);
    expect(await store.stat(info.digest)).toEqual(info);
    expect(await store.has(info.digest)).toBe(true);
  });

  it('stores the empty blob', async () => {
    const store = await harness.open(freshNamespace());
    const info = await store.put(new Uint8Array(0));
    expect(info.digest).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect((await drain(await store.get(info.digest))).bytes.length).toBe(0);
  });

  it('dedups identical content and lists blobs in digest order', async () => {
    const store = await harness.open(freshNamespace());
    const infos = [
      await store.put(seededBytes(10, 2)),
      await store.put(seededBytes(20, 3)),
      await store.put(seededBytes(10, 2)),
    ];
    expect(infos[2]).toEqual(infos[0]);
    const listed = await listAll(store);
    expect(listed).toEqual([infos[0]!, infos[1]!].sort((a, b) => a.digest.localeCompare(b.digest)));
  });

  it('lets concurrent writers of the same content both succeed with one blob', async () => {
    const store = await harness.open(freshNamespace());
    const bytes = seededBytes(200_000, 11);
    const [a, b] = await Promise.all([
      store.put(chunked(bytes, 10_000)),
      store.put(chunked(bytes, 30_000)),
    ]);
    expect(b).toEqual(a);
    expect(await listAll(store)).toEqual([a]);
    expect((await drain(await store.get(a.digest))).bytes.equals(bytes)).toBe(true);
  });

  it('deletes, after which the blob is gone everywhere', async () => {
    const store = await harness.open(freshNamespace());
    const { digest } = await store.put(seededBytes(1000, 4));
    expect(await store.delete(digest)).toBe(true);
    expect(await store.delete(digest)).toBe(false);
    expect(await store.has(digest)).toBe(false);
    await expect(store.stat(digest)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.get(digest)).rejects.toThrow(
      new RegExp(`artifact ${digest} not found in namespace "${store.namespace}"`),
    );
    expect(await listAll(store)).toEqual([]);
  });

  it('keeps namespaces apart', async () => {
    const a = await harness.open(freshNamespace());
    const b = await harness.open(freshNamespace());
    const { digest } = await a.put(seededBytes(100, 5));
    expect(await b.has(digest)).toBe(false);
    expect(await listAll(b)).toEqual([]);
  });

  it('rejects path-like and malformed names before touching storage', async () => {
    const store = await harness.open(freshNamespace());
    for (const name of hostileNames) {
      await expect(store.get(name), name).rejects.toBeInstanceOf(InvalidDigestError);
      await expect(store.has(name), name).rejects.toBeInstanceOf(InvalidDigestError);
      await expect(store.stat(name), name).rejects.toBeInstanceOf(InvalidDigestError);
      await expect(store.delete(name), name).rejects.toBeInstanceOf(InvalidDigestError);
      await expect(
        store.put(new Uint8Array(1), { expectedDigest: name }),
        name,
      ).rejects.toBeInstanceOf(InvalidDigestError);
    }
    await expect(store.get('../../etc/passwd')).rejects.toThrow(
      /invalid artifact digest "..\/..\/etc\/passwd"/,
    );
  });

  it('stores nothing when the content does not match the declared digest', async () => {
    const store = await harness.open(freshNamespace());
    const declared = `sha256:${sha256(seededBytes(64, 6))}`;
    const attempt = store.put(seededBytes(64, 7), { expectedDigest: declared });
    await expect(attempt).rejects.toBeInstanceOf(ArtifactIntegrityError);
    await expect(attempt).rejects.toThrow(
      new RegExp(`integrity check failed for artifact ${declared}`),
    );
    expect(await listAll(store)).toEqual([]);
    const ok = await store.put(seededBytes(64, 6), { expectedDigest: declared });
    expect(ok.digest).toBe(declared);
  });

  it('stores nothing when the source fails midway, and passes its error on', async () => {
    const store = await harness.open(freshNamespace());
    const failure = new Error('upstream connection reset');
    const failing = (async function* () {
      yield seededBytes(100_000, 10);
      yield await Promise.reject<Uint8Array>(failure);
    })();
    await expect(store.put(failing)).rejects.toBe(failure);
    expect(await listAll(store)).toEqual([]);
  });

  it('refuses text chunks', async () => {
    const store = await harness.open(freshNamespace());
    const text = (async function* () {
      yield await Promise.resolve('not bytes' as unknown as Uint8Array);
    })();
    await expect(store.put(text)).rejects.toThrow(/yielded a string, not bytes/);
    expect(await listAll(store)).toEqual([]);
  });

  it('fails a read of a corrupted blob with an integrity error and never delivers the whole content', async () => {
    const store = await harness.open(freshNamespace());
    const bytes = seededBytes(400_000, 8);
    const { digest } = await store.put(chunked(bytes, 65_536));
    await harness.corrupt(store, digest);
    const { bytes: delivered, error } = await drain(await store.get(digest));
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `integrity check failed for artifact ${digest}: the stored bytes hash to sha256:[0-9a-f]{64}`,
      ),
    );
    // The last chunk is held back until the hash checks, so the read is always incomplete.
    expect(delivered.length).toBeLessThan(bytes.length);
  });
}
