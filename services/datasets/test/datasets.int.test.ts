import { createHash } from 'node:crypto';
// The datasets service as a real process on real PostgreSQL, NATS JetStream and the NATS object
// store: upload, curate, read back and statistics, with restarts between the steps.
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { NatsArtifactStore } from '@lathe/artifacts';
import { connectJetStreamBus } from '@lathe/bus';
import { connect } from '@nats-io/transport-node';
import type { EventBus } from '@lathe/bus';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { PiiAction, PiiKind, RemovalReason } from '@lathe/contracts/lathe/datasets/v1/curation';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  ExportFormat,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type {
  CurationFailed,
  DatasetVersionCreated,
} from '@lathe/contracts/lathe/datasets/v1/events';
import { createClient } from '@lathe/service-kit';
import type { LatheClient } from '@lathe/service-kit';
import { startServiceUnderTest } from '@lathe/service-kit/testing';
import type { ServiceUnderTest } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats, uniqueName } from '@lathe/testkit';
import type { TestDatabase, TestNats } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curationFailedEvent, versionCreatedEvent } from '../src/events/dataset-events.js';
import { DatasetsStreamClient } from '../src/client/datasets-stream-client.js';

const ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
type Client = LatheClient<typeof DatasetServiceService>;

const chat = (user: string, assistant: string, extra: object = {}): string =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
    ...extra,
  });

/** Chat lines with known problems; line numbers are 1-based as an editor shows them. */
const LINES = [
  chat('What is the capital of France?', 'Paris is the capital of France.', {
    source: { id: 'q1', reviewed: true },
  }), // 1 (its fields outside the chat layout are kept as metadata)
  '{"messages": [ this is not json', // 2: malformed
  chat(
    'How do I boil an egg?',
    'Put it in boiling water for nine minutes, then cool it in cold water.',
  ), // 3
  chat('What is the capital of France?', 'Paris is the capital of France.', {
    source: { id: 'q4' },
  }), // 4: exact duplicate of 1 (metadata is not part of a record's identity)
  '{"messages": "nope"}', // 5: messages not an array
  '', // 6: blank, skipped
  chat('Write me an e-mail signature', 'Best regards, Ada (ada@example.com, +1 415 555 0100)'), // 7: PII
  chat('Say something', `Sure: ${'!'.repeat(200)}`), // 8: junk run
  '{"messages": [{"role": "wizard", "content": "x"}]}', // 9: bad role
  chat(
    'Name three primary colours',
    'Red, yellow and blue are the three primary colours of paint.',
  ), // 10
];

describe('the datasets service on real servers', () => {
  let nats: TestNats;
  let db: TestDatabase;
  let svc: ServiceUnderTest;
  let env: Record<string, string>;
  let bus: EventBus;
  const created: DatasetVersionCreated[] = [];

  const start = async (): Promise<{ unary: Client; stream: DatasetsStreamClient }> => {
    svc = await startServiceUnderTest(ENTRY, 'lathe.datasets', env);
    const token = await svc.token(['dataset-editor']);
    return {
      unary: createClient(DatasetServiceService, svc.process.address, { token, idempotent: [] }),
      stream: new DatasetsStreamClient(svc.process.address, token),
    };
  };
  const restart = async (c: { unary: Client; stream: DatasetsStreamClient }) => {
    c.unary.close();
    c.stream.close();
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    return start();
  };

  beforeAll(async () => {
    nats = await startNats();
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, NATS_URL: nats.url, LATHE_DATASETS_ARTIFACT_STORE: 'nats' };
    bus = await connectJetStreamBus({ servers: nats.url, name: 'datasets-test' });
    await bus.subscribe(
      versionCreatedEvent,
      (e) => {
        created.push(e.message);
        return Promise.resolve();
      },
      {
        durable: uniqueName('datasets_test'),
      },
    );
  }, 60_000);
  afterAll(async () => {
    await svc?.process.stop('SIGTERM');
    await bus?.close();
    await db?.close();
    await nats?.close();
  });

  it('uploads, curates, reads back and reports statistics across restarts, losing nothing', async () => {
    let c = await start();
    const name = `chats-${Date.now().toString(36)}`;
    await c.unary.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_SFT,
      description: 'test',
      labels: {},
    });

    // Small chunks so that lines span chunk boundaries.
    const body = Buffer.from(`${LINES.join('\n')}\n`, 'utf8');
    const up = await c.stream.upload(
      { dataset: name, format: RecordFormat.RECORD_FORMAT_AUTO, sourceName: 'chats.jsonl' },
      body,
      37,
    );
    expect(up.upload?.detectedFormat).toBe(RecordFormat.RECORD_FORMAT_CHAT);
    expect(up.rejected.map((r) => r.lineNumber)).toEqual([2, 5, 9]);
    expect(up.rejected[1]?.reason).toBe('"messages" must be an array');
    expect(up.rejected[2]?.reason).toMatch(
      /^messages\[0\]\.role must be system, user or assistant/,
    );
    expect(up.upload?.acceptedCount).toBe(6);
    expect(up.upload?.rejectedCount).toBe(3);
    // Every non-blank line is either accepted or rejected.
    expect((up.upload?.acceptedCount ?? 0) + (up.upload?.rejectedCount ?? 0)).toBe(
      LINES.filter((l) => l !== '').length,
    );
    expect(up.upload?.raw?.sizeBytes).toBe(body.length);

    c = await restart(c);
    expect((await c.unary.getDataset({ name })).dataset?.stagedRecordCount).toBe(6);

    const curated = await c.unary.curateDataset(
      CurateDatasetRequest.fromPartial({
        dataset: name,
        spec: {
          dedupeExact: true,
          dropEmptyTurns: true,
          junk: {},
          pii: {
            action: PiiAction.PII_ACTION_DROP,
            kinds: [PiiKind.PII_KIND_EMAIL, PiiKind.PII_KIND_PHONE],
          },
          split: { evalFraction: 0.5, seed: 7 },
        },
        description: 'first',
      }),
    );
    const v = curated.version;
    expect(v?.ref?.version).toBe(1);
    expect(v?.ref?.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((v?.trainCount ?? 0) + (v?.evalCount ?? 0)).toBe(3);
    expect(v?.removedCount).toBe(3);
    expect(curated.stats?.inputCount).toBe(6);
    expect(curated.stats?.removals).toEqual([
      { reason: RemovalReason.REMOVAL_REASON_EXACT_DUPLICATE, count: 1 },
      { reason: RemovalReason.REMOVAL_REASON_JUNK, count: 1 },
      { reason: RemovalReason.REMOVAL_REASON_PII, count: 1 },
    ]);

    c = await restart(c);
    const removed = await c.unary.listRemovedRecords({
      version: v?.ref,
      reason: 0,
      page: { pageSize: 2, pageToken: '' },
    });
    expect(removed.removed.map((r) => r.sourceLine)).toEqual([4, 7]);
    expect(removed.removed[0]?.reason).toBe(RemovalReason.REMOVAL_REASON_EXACT_DUPLICATE);
    expect(removed.page?.totalSize).toBe(3);
    const rest = await c.unary.listRemovedRecords({
      version: v?.ref,
      reason: 0,
      page: { pageSize: 2, pageToken: removed.page?.nextPageToken ?? '' },
    });
    expect(rest.removed.map((r) => [r.sourceLine, r.reason])).toEqual([
      [8, RemovalReason.REMOVAL_REASON_JUNK],
    ]);
    expect(rest.removed[0]?.detail).toMatch(/run of 200 "!"/);

    // Read back: every kept record once, train then eval, in pages of one.
    const batches = await c.stream.readRecords({
      version: { dataset: name, version: 1, manifestSha256: '' },
      batchSize: 1,
    });
    const records = batches.flatMap((b) => b.records);
    expect(records).toHaveLength(3);
    const users = records.map((r) =>
      r.content?.$case === 'conversation' ? r.content.conversation.messages[0]?.content : '',
    );
    expect(new Set(users)).toEqual(
      new Set([
        'What is the capital of France?',
        'How do I boil an egg?',
        'Name three primary colours',
      ]),
    );
    const train = records.filter((r) => r.split === DatasetSplit.DATASET_SPLIT_TRAIN);
    expect(train.map((r) => r.index)).toEqual(train.map((_, i) => i));
    // The kept copy of the duplicated question carries the first line's metadata; others none.
    expect(records.map((r) => r.metadata).filter((m) => m !== undefined)).toEqual([
      { source: { id: 'q1', reviewed: true } },
    ]);
    // Resuming from the first batch's token yields the rest.
    const resumed = await c.stream.readRecords({
      version: { dataset: name, version: 1, manifestSha256: '' },
      pageToken: batches[0]?.resumeToken ?? '',
    });
    expect(resumed.flatMap((b) => b.records).map((r) => r.id)).toEqual(
      records.slice(1).map((r) => r.id),
    );

    // Export: the header's digest and count describe exactly the chunks that follow.
    const exported = await c.stream.exportVersion({ version: v?.ref });
    const [head, ...chunks] = exported;
    const file = Buffer.concat(
      chunks.map((m) => (m.message?.$case === 'chunk' ? m.message.chunk : Buffer.alloc(0))),
    );
    expect(head?.message?.$case === 'header' && head.message.header).toMatchObject({
      recordCount: 3,
      file: { sha256: createHash('sha256').update(file).digest('hex'), sizeBytes: file.length },
    });
    expect(
      file
        .toString('utf8')
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    ).toEqual(records.map((r) => r.id));
    const asChat = await c.stream.exportVersion({
      version: v?.ref,
      format: ExportFormat.EXPORT_FORMAT_CHAT_JSONL,
      split: DatasetSplit.DATASET_SPLIT_TRAIN,
    });
    const chatText = asChat
      .slice(1)
      .map((m) => (m.message?.$case === 'chunk' ? m.message.chunk.toString('utf8') : ''))
      .join('');
    expect(
      chatText
        .trimEnd()
        .split('\n')
        .map((l) =>
          (JSON.parse(l) as { messages: { role: string }[] }).messages.map((m) => m.role),
        ),
    ).toEqual(train.map(() => ['user', 'assistant']));
    // Metadata travels into exports: as `metadata` in Lathe JSONL, beside the content in chat JSONL.
    const latheLines = file
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { metadata?: unknown });
    expect(latheLines.flatMap((l) => (l.metadata === undefined ? [] : [l.metadata]))).toEqual([
      { source: { id: 'q1', reviewed: true } },
    ]);
    const allChat = await c.stream.exportVersion({
      version: v?.ref,
      format: ExportFormat.EXPORT_FORMAT_CHAT_JSONL,
    });
    const chatLines = allChat
      .slice(1)
      .map((m) => (m.message?.$case === 'chunk' ? m.message.chunk.toString('utf8') : ''))
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { source?: unknown; messages: unknown[] });
    expect(chatLines.flatMap((l) => (l.source === undefined ? [] : [l.source]))).toEqual([
      { id: 'q1', reviewed: true },
    ]);
    await expect(
      c.stream.exportVersion({
        version: v?.ref,
        format: ExportFormat.EXPORT_FORMAT_PREFERENCE_JSONL,
      }),
    ).rejects.toMatchObject({
      details: { errorInfo: { reason: 'RECORD_KIND_MISMATCH' } },
    });

    const stats = (await c.unary.getDatasetStats({ dataset: name, version: 0 })).stats;
    const trainStats = stats?.splits.find((s) => s.split === DatasetSplit.DATASET_SPLIT_TRAIN);
    expect(trainStats?.recordCount).toBe(v?.trainCount);
    expect((stats?.splits ?? []).reduce((n, s) => n + s.recordCount, 0)).toBe(3);
    // Every kept record is one user and one assistant turn.
    expect(trainStats?.turns?.min ?? 2).toBe(2);
    const sum = (pick: (s: (typeof stats & object)['splits'][number]) => number): number =>
      (stats?.splits ?? []).reduce((n, s) => n + pick(s), 0);
    expect(sum((s) => s.roleCounts['user'] ?? 0)).toBe(3);
    expect(sum((s) => s.roleCounts['assistant'] ?? 0)).toBe(3);
    expect(sum((s) => s.roleCounts['system'] ?? 0)).toBe(0);
    // Character histogram: the read-back records' lengths (turns joined by newlines), bucketed
    // here independently of the service.
    const lengths = records.map((r) =>
      r.content?.$case === 'conversation'
        ? [...r.content.conversation.messages.map((m) => m.content).join('\n')].length
        : 0,
    );
    const histogram = trainStats?.characterHistogram ?? [];
    expect(histogram.map((b) => b.maxLength)).toEqual([
      64, 128, 256, 512, 1024, 2048, 4096, 8192, 0,
    ]);
    expect(histogram[1]?.minLength).toBe(65);
    const inBucket = (b: { minLength: number; maxLength: number }) =>
      lengths.filter((n) => n >= b.minLength && (b.maxLength === 0 || n <= b.maxLength)).length;
    expect(histogram.map((_, i) => sum((s) => s.characterHistogram[i]?.count ?? 0))).toEqual(
      histogram.map(inBucket),
    );
    expect(lengths.filter((n) => n <= 64)).toHaveLength(1);
    expect(stats?.ref?.manifestSha256).toBe(v?.ref?.manifestSha256);

    await expect.poll(() => created.map((e) => e.version?.dataset)).toContain(name);
    c.unary.close();
    c.stream.close();
  }, 120_000);

  it('gives the same version digest for the same input curated twice with the same options', async () => {
    const c = await start();
    const spec = {
      dedupeExact: true,
      nearDuplicates: { jaccardThreshold: 0.8, shingleSize: 3, seed: 1 },
      split: { evalFraction: 0.2, seed: 3 },
    };
    const digests: string[] = [];
    for (const name of [`same-a-${Date.now().toString(36)}`, `same-b-${Date.now().toString(36)}`]) {
      await c.unary.createDataset({
        name,
        kind: DatasetKind.DATASET_KIND_SFT,
        description: '',
        labels: {},
      });
      await c.stream.upload(
        { dataset: name, format: RecordFormat.RECORD_FORMAT_CHAT },
        Buffer.from(LINES.join('\n')),
      );
      const r = await c.unary.curateDataset(
        CurateDatasetRequest.fromPartial({ dataset: name, spec }),
      );
      digests.push(r.version?.ref?.manifestSha256 ?? '');
    }
    expect(digests[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(digests[1]).toBe(digests[0]);
    c.unary.close();
    c.stream.close();
  }, 60_000);

  it('imports an artifact already in the store, refuses a wrong digest, and reports a curation that leaves nothing', async () => {
    const c = await start();
    const name = `imported-${Date.now().toString(36)}`;
    await c.unary.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_PREFERENCE,
      description: '',
      labels: {},
    });
    const failed: CurationFailed[] = [];
    const sub = await bus.subscribe(
      curationFailedEvent,
      (e) => {
        failed.push(e.message);
        return Promise.resolve();
      },
      { durable: uniqueName('datasets_failed') },
    );
    const body = Buffer.from(
      [
        JSON.stringify({
          chosen: '\n\nHuman: Hi\n\nAssistant: Hello!',
          rejected: '\n\nHuman: Hi\n\nAssistant: Go away.',
        }),
        JSON.stringify({ chosen: 'no transcript', rejected: 'at all' }),
      ].join('\n'),
    );
    // Another service's artifact in the same store (the NATS object store bucket lathe-datasets).
    const nc = await connect({ servers: nats.url });
    const store = await NatsArtifactStore.open({ connection: nc, namespace: 'datasets' });
    const blob = await store.put(body);
    await nc.close();

    const wrongSize = await c.unary
      .importFromArtifact({
        dataset: name,
        format: RecordFormat.RECORD_FORMAT_AUTO,
        artifact: { sha256: blob.sha256, sizeBytes: blob.size + 1, mediaType: '', uri: '' },
        sourceName: '',
        maxReportedRejections: 0,
      })
      .catch((e: unknown) => e);
    expect(wrongSize).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: { errorInfo: { reason: 'DIGEST_MISMATCH' } },
    });
    const imported = await c.unary.importFromArtifact({
      dataset: name,
      format: RecordFormat.RECORD_FORMAT_AUTO,
      artifact: { sha256: blob.sha256, sizeBytes: blob.size, mediaType: '', uri: '' },
      sourceName: 'from-another-service',
      maxReportedRejections: 0,
    });
    expect(imported.upload?.detectedFormat).toBe(RecordFormat.RECORD_FORMAT_HH_RLHF);
    expect([imported.upload?.acceptedCount, imported.upload?.rejectedCount]).toEqual([1, 1]);
    expect(imported.rejected[0]).toMatchObject({ lineNumber: 2, fieldPath: 'chosen' });
    expect(imported.upload?.raw?.sha256).toBe(blob.sha256);

    // A declared body digest that does not match stages nothing.
    const mismatch = await c.stream
      .upload(
        { dataset: name, format: RecordFormat.RECORD_FORMAT_AUTO, sha256: '0'.repeat(64) },
        body,
      )
      .catch((e: unknown) => e);
    expect(mismatch).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: { errorInfo: { reason: 'DIGEST_MISMATCH' } },
    });
    expect((await c.unary.getDataset({ name })).dataset?.stagedRecordCount).toBe(1);

    // Curating twice: the second call has no staged records left, so it fails with
    // CURATION_EMPTY and publishes curation_failed.
    const first = await c.unary.curateDataset(
      CurateDatasetRequest.fromPartial({ dataset: name, spec: {}, idempotencyKey: 'k1' }),
    );
    const v1 = first.version;
    expect(v1?.trainCount).toBe(1);
    const records = (await c.stream.readRecords({ version: v1?.ref })).flatMap((b) => b.records);
    expect(records[0]?.content).toEqual({
      $case: 'preference',
      preference: {
        prompt: [{ role: 2, content: 'Hi' }],
        chosen: [{ role: 3, content: 'Hello!' }],
        rejected: [{ role: 3, content: 'Go away.' }],
      },
    });
    // The same idempotency key returns the same version; with another request it is refused.
    const again = await c.unary.curateDataset(
      CurateDatasetRequest.fromPartial({ dataset: name, spec: {}, idempotencyKey: 'k1' }),
    );
    expect(again.version?.ref).toEqual(v1?.ref);
    const reused = await c.unary
      .curateDataset(
        CurateDatasetRequest.fromPartial({
          dataset: name,
          spec: { dedupeExact: true },
          idempotencyKey: 'k1',
        }),
      )
      .catch((e: unknown) => e);
    expect(reused).toMatchObject({
      code: status.ABORTED,
      details: { errorInfo: { reason: 'IDEMPOTENCY_KEY_REUSED' } },
    });
    const empty = await c.unary
      .curateDataset(CurateDatasetRequest.fromPartial({ dataset: name, spec: {} }))
      .catch((e: unknown) => e);
    expect(empty).toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: { errorInfo: { reason: 'CURATION_EMPTY' } },
    });
    await expect
      .poll(() => failed.map((f) => [f.dataset, f.reason]))
      .toContainEqual([name, 'CURATION_EMPTY']);
    // Two curations racing for the same uploads: one version, the other call refused.
    await c.stream.upload({ dataset: name, format: RecordFormat.RECORD_FORMAT_AUTO }, body);
    const raced = await Promise.allSettled([
      c.unary.curateDataset(CurateDatasetRequest.fromPartial({ dataset: name, spec: {} })),
      c.unary.curateDataset(CurateDatasetRequest.fromPartial({ dataset: name, spec: {} })),
    ]);
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = raced.find((r) => r.status === 'rejected');
    expect([status.ABORTED, status.FAILED_PRECONDITION]).toContain(
      (refused?.reason as { code: number }).code,
    );
    const versions = await c.unary.listDatasetVersions({ dataset: name, page: undefined });
    expect(versions.versions.map((x) => x.ref?.version)).toEqual([2, 1]);
    await sub.stop();
    c.unary.close();
    c.stream.close();
  }, 60_000);
});
