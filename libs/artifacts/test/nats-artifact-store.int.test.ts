import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { startNats, type TestNats } from '@lathe/testkit';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsArtifactStore, type ArtifactStore } from '../src/index.js';
import { artifactStoreSuite, freshNamespace } from './artifact-store-suite.js';
import { startPutChild } from './child-process.js';

describe('NatsArtifactStore', () => {
  let nats: TestNats;
  let connection: NatsConnection;
  const buckets: string[] = [];
  beforeAll(async () => {
    nats = await startNats();
    connection = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    // On a shared server (NATS_URL) remove what the tests created.
    const objm = new Objm(connection);
    for (const bucket of buckets) await (await objm.open(bucket)).destroy().catch(() => undefined);
    await connection.close();
    await nats.close();
  });

  async function open(namespace: string): Promise<NatsArtifactStore> {
    const store = await NatsArtifactStore.open({ connection, namespace, storage: 'file' });
    buckets.push(store.bucket);
    return store;
  }

  async function tempSpoolDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-spool-test-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A killed uploader's spill file is an orphan; the sweep finds it by its dead pid. */
  async function expectSpillSwept(spoolDir: string, pid: number | undefined): Promise<void> {
    const spillOf = (names: string[]): string[] =>
      names.filter((n) => n.startsWith(`lathe-upload-${pid}-`));
    expect(spillOf(await readdir(spoolDir))).toHaveLength(1);
    expect(await NatsArtifactStore.sweepAbandonedSpools(spoolDir)).toBe(1);
    expect(spillOf(await readdir(spoolDir))).toEqual([]);
  }

  artifactStoreSuite({
    open,
    // Bit rot cannot be injected into JetStream's files (they carry their own checksums), so the
    // test stores an object under the digest whose bytes differ by one: what a faulty store or a
    // tampered bucket would serve. The object store's own checksum matches those bytes; only the
    // content-address check can catch it.
    async corrupt(store: ArtifactStore, digest: string) {
      const objects = await new Objm(connection).open((store as NatsArtifactStore).bucket);
      const bytes = await objects.getBlob(digest);
      if (bytes === null) throw new Error(`corrupt: ${digest} is not stored`);
      const middle = bytes.length >> 1;
      bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
      await objects.put({ name: digest }, Readable.toWeb(Readable.from([bytes])));
    },
  });

  it('leaves no visible blob when the writing process is SIGKILLed while streaming', async () => {
    const namespace = freshNamespace();
    const store = await open(namespace);
    const spoolDir = await tempSpoolDir();
    const child = startPutChild({
      STORE_KIND: 'nats',
      NATS_URL: nats.url,
      NAMESPACE: namespace,
      MODE: 'endless',
      SPOOL_DIR: spoolDir,
    });
    await child.waitFor('streaming');
    await child.kill();
    const listed: unknown[] = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
    await expectSpillSwept(spoolDir, child.child.pid);
  });

  it('leaves no visible blob when the writing process is SIGKILLed while uploading chunks', async () => {
    const namespace = freshNamespace();
    const store = await open(namespace);
    const jsm = await jetstreamManager(connection);
    const stream = `OBJ_${store.bucket}`;
    const spoolDir = await tempSpoolDir();
    const child = startPutChild({
      STORE_KIND: 'nats',
      NATS_URL: nats.url,
      NAMESPACE: namespace,
      MODE: 'upload',
      SPOOL_DIR: spoolDir,
      TOTAL_BYTES: String(96 * 1024 * 1024),
    });
    await child.waitFor('uploading');
    // Kill once chunks are arriving in the bucket's stream, i.e. midway through the upload.
    let messages = 0;
    const deadline = Date.now() + 20_000;
    while (messages < 20 && Date.now() < deadline) {
      messages = (await jsm.streams.info(stream)).state.messages;
      if (messages < 20) await new Promise((r) => setTimeout(r, 5));
    }
    await child.kill();
    expect(messages).toBeGreaterThanOrEqual(20);
    const after = (await jsm.streams.info(stream)).state.messages;
    const listed: unknown[] = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
    // Chunks arrived but the upload did not finish (96 MiB is 768 chunks of 128 KiB).
    expect(after).toBeLessThan(768);
    await expectSpillSwept(spoolDir, child.child.pid);
  });
});
