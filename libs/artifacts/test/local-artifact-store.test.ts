import { readdir, readFile, stat, chmod, writeFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidNamespaceError, LocalArtifactStore, type ArtifactStore } from '../src/index.js';
import { artifactStoreSuite, freshNamespace } from './artifact-store-suite.js';
import { startPutChild } from './child-process.js';
import { seededBytes } from './seeded-bytes.js';

describe('LocalArtifactStore', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lathe-artifacts-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  artifactStoreSuite({
    open: (namespace) => Promise.resolve(new LocalArtifactStore({ root, namespace })),
    async corrupt(store: ArtifactStore, digest: string) {
      const path = (store as LocalArtifactStore).pathOf(digest);
      const bytes = await readFile(path);
      const middle = bytes.length >> 1;
      bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
      await chmod(path, 0o644);
      await writeFile(path, bytes);
    },
  });

  it('lays blobs out as sha256/<2 hex>/<62 hex>, read-only', async () => {
    const namespace = freshNamespace();
    const store = new LocalArtifactStore({ root, namespace });
    const { sha256 } = await store.put(seededBytes(10, 9));
    const path = join(root, namespace, 'sha256', sha256.slice(0, 2), sha256.slice(2));
    expect(store.pathOf(`sha256:${sha256}`)).toBe(path);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    expect(await readdir(join(root, namespace, 'tmp'))).toEqual([]);
  });

  it('rejects namespaces that could leave the root', () => {
    for (const namespace of ['../x', 'a/b', '..', '', 'A', 'x'.repeat(64), 'a\0b']) {
      expect(() => new LocalArtifactStore({ root, namespace }), namespace).toThrow(
        InvalidNamespaceError,
      );
    }
  });

  it('leaves no visible blob when the writing process is SIGKILLed midway', async () => {
    const namespace = freshNamespace();
    const child = startPutChild({
      STORE_KIND: 'local',
      STORE_ROOT: root,
      NAMESPACE: namespace,
      MODE: 'endless',
    });
    await child.waitFor('streaming');
    await child.kill();

    const store = new LocalArtifactStore({ root, namespace });
    const listed: unknown[] = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
    // The only trace is a partial file in tmp/, which a sweep removes once it is old enough.
    const partials = await readdir(join(root, namespace, 'tmp'));
    expect(partials).toHaveLength(1);
    expect(partials[0]).toMatch(/\.partial$/);
    expect((await stat(join(root, namespace, 'tmp', partials[0]!))).size).toBeGreaterThanOrEqual(
      1024 * 1024,
    );
    expect(await store.sweepPartialWrites()).toBe(0); // too young: could be a write in progress
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(root, namespace, 'tmp', partials[0]!), old, old);
    expect(await store.sweepPartialWrites()).toBe(1);
    expect(await readdir(join(root, namespace, 'tmp'))).toEqual([]);
  });
});
