// Token-length filtering with a tokenizer fetched from a real registry process (stories260K
// imported from the shared models directory), counted as the trainer counts.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { RemovalReason } from '@lathe/contracts/lathe/datasets/v1/curation';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { TextTokenizer } from '@lathe/llm';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import type { SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetsStreamClient } from '../src/client/datasets-stream-client.js';
import type { CanonicalRecord } from '../src/domain/canonical-record.js';
import { countRecordTokens } from '../src/domain/token-count.js';

const STORIES = resolve(REPO_ROOT, '../shared/models/stories260K');
const present = existsSync(join(STORIES, 'tokenizer.json'));
if (!present) console.log(`skipping token-length tests: ${STORIES} is absent`);

const conversation = (user: string, assistant: string): CanonicalRecord => ({
  type: 'conversation',
  messages: [
    { role: 'user', content: user },
    { role: 'assistant', content: assistant },
  ],
});
const RECORDS = [
  conversation('Hi', 'Once upon a time there was a cat.'),
  conversation(
    'Tell me a story',
    'Once upon a time there was a little girl named Lily. She loved to play in the park with her dog every day after school.',
  ),
  {
    type: 'text',
    text: 'The sun was warm and the birds sang in the big green tree.',
  } satisfies CanonicalRecord,
];
function line(r: CanonicalRecord): string {
  if (r.type === 'text') return JSON.stringify({ text: r.text });
  if (r.type === 'conversation') return JSON.stringify({ messages: r.messages });
  throw new Error('only SFT records are uploaded here');
}

describe.skipIf(!present)('token-length filter with a registry tokenizer', () => {
  let registry: SpawnedService;
  let datasets: SpawnedService;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lathe-datasets-tokens-'));
    registry = await spawnService({
      entry: fileURLToPath(new URL('../../registry/src/main.ts', import.meta.url)),
      cwd: REPO_ROOT,
      env: {
        LATHE_AUTH_MODE: 'none',
        LATHE_REGISTRY_ARTIFACTS: join(dir, 'registry-artifacts'),
        LATHE_REGISTRY_WORK_DIR: join(dir, 'registry-work'),
        LATHE_REGISTRY_IMPORT_ROOTS: dirname(STORIES),
      },
      startTimeoutMs: 60_000,
    });
    datasets = await spawnService({
      entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
      cwd: REPO_ROOT,
      env: {
        LATHE_AUTH_MODE: 'none',
        LATHE_DATASETS_ARTIFACT_DIR: join(dir, 'datasets-artifacts'),
        LATHE_DATASETS_REGISTRY_ADDR: registry.address,
      },
      startTimeoutMs: 60_000,
    });
  }, 130_000);
  afterAll(async () => {
    await datasets?.stop('SIGTERM');
    await registry?.stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it("removes records above max_tokens and stores each kept record's count as the trainer counts it", async () => {
    const reg = createClient(RegistryServiceService, registry.address, {
      idempotent: [],
      deadlineMs: 120_000,
    });
    const imported = await reg.importModelFromPath({
      name: 'stories260k',
      path: STORIES,
      description: '',
      labels: {},
    });
    reg.close();
    const tokenizer = await TextTokenizer.load(STORIES);
    const expected = RECORDS.map((r) => countRecordTokens(tokenizer, r));
    const [short, long, text] = expected as [number, number, number];
    expect(long).toBeGreaterThan(Math.max(short, text));

    const unary = createClient(DatasetServiceService, datasets.address, {
      idempotent: [],
      deadlineMs: 120_000,
    });
    const stream = new DatasetsStreamClient(datasets.address, undefined);
    await unary.createDataset({
      name: 'stories',
      kind: DatasetKind.DATASET_KIND_SFT,
      description: '',
      labels: {},
    });
    await stream.upload(
      { dataset: 'stories', format: RecordFormat.RECORD_FORMAT_AUTO },
      Buffer.from(RECORDS.slice(0, 2).map(line).join('\n')),
    );
    await stream.upload(
      { dataset: 'stories', format: RecordFormat.RECORD_FORMAT_TEXT },
      Buffer.from(line(RECORDS[2] as CanonicalRecord)),
    );
    const max = Math.max(short, text);
    const curated = await unary.curateDataset(
      CurateDatasetRequest.fromPartial({
        dataset: 'stories',
        spec: {
          tokenLength: {
            tokenizer: {
              name: 'stories260k',
              selector: { $case: 'version', version: imported.version?.ref?.version ?? 1 },
            },
            maxTokens: max,
          },
        },
      }),
    );
    expect(curated.stats?.removals).toEqual([
      { reason: RemovalReason.REMOVAL_REASON_TOO_LONG, count: 1 },
    ]);
    const train = curated.stats?.splits.find((s) => s.split === DatasetSplit.DATASET_SPLIT_TRAIN);
    expect(train?.tokens).toMatchObject({ min: Math.min(short, text), max, total: short + text });
    const records = (await stream.readRecords({ version: curated.version?.ref })).flatMap(
      (b) => b.records,
    );
    expect(records.map((r) => r.tokenCount)).toEqual([short, text]);
    const removed = await unary.listRemovedRecords({
      version: curated.version?.ref,
      reason: 0,
      page: undefined,
    });
    expect(removed.removed[0]?.detail).toBe(`${long} tokens > max ${max}`);
    unary.close();
    stream.close();
  }, 120_000);
});
