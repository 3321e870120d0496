// The datasets service's real entry point as a process over real gRPC: the kit's process checks
// (health, field violations, tokens, roles, configuration, SIGTERM) with GetDataset, which on the
// empty store answers NOT_FOUND (every rpc is built, none answers UNIMPLEMENTED); then this
// service's own flow over the same embedded defaults.
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CreateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { createClient, isLatheError } from '@lathe/service-kit';
import type { LatheError } from '@lathe/service-kit';
import {
  describeServiceProcess,
  REPO_ROOT,
  spawnProcess,
  startServiceUnderTest,
} from '@lathe/service-kit/testing';
import type { ServiceUnderTest } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ARTIFACT_DIR = '/tmp/lathe-datasets-process-test';

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (isLatheError(e)) return e;
  throw e;
}

describeServiceProcess({
  entry: ENTRY,
  service: 'datasets',
  fullName: 'lathe.datasets.v1.DatasetService',
  definition: DatasetServiceService,
  role: 'dataset-reader',
  method: 'GetDataset',
  malformed: (c) => c.getDataset({ name: '' }),
  malformedFields: ['name'],
  valid: (c) => c.getDataset({ name: 'absent' }),
  validCode: status.NOT_FOUND,
  env: { LATHE_DATASETS_ARTIFACT_DIR: ARTIFACT_DIR },
});

describe('the datasets service process, its own rpcs', () => {
  let svc: ServiceUnderTest;
  beforeAll(async () => {
    // Embedded defaults: PGlite in memory, in-process bus, a local artifact directory.
    svc = await startServiceUnderTest(ENTRY, 'lathe.datasets', {
      LATHE_DATASETS_ARTIFACT_DIR: ARTIFACT_DIR,
    });
  }, 60_000);
  afterAll(async () => {
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('answers a malformed CreateDataset with every bad field, then creates, finds and refuses a duplicate', async () => {
    const c = createClient(DatasetServiceService, svc.process.address, {
      token: await svc.token(['dataset-editor']),
      idempotent: [],
    });
    const bad = await failure(c.createDataset(CreateDatasetRequest.fromPartial({ name: '' })));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual(['name', 'kind']);
    expect(bad.details.errorInfo.domain).toBe('lathe.datasets');
    const made = await c.createDataset(
      CreateDatasetRequest.fromPartial({
        name: 'support-chats',
        kind: DatasetKind.DATASET_KIND_SFT,
      }),
    );
    expect(made.dataset?.name).toBe('support-chats');
    const again = await failure(
      c.createDataset(
        CreateDatasetRequest.fromPartial({
          name: 'support-chats',
          kind: DatasetKind.DATASET_KIND_SFT,
        }),
      ),
    );
    expect([again.code, again.details.errorInfo.reason]).toEqual([
      status.ALREADY_EXISTS,
      'DATASET_ALREADY_EXISTS',
    ]);
    await c.createDataset(
      CreateDatasetRequest.fromPartial({
        name: 'a-prefs',
        kind: DatasetKind.DATASET_KIND_PREFERENCE,
        labels: { team: 'x' },
      }),
    );
    const page1 = await c.listDatasets({
      page: { pageSize: 1, pageToken: '' },
      kind: 0,
      labels: {},
    });
    expect(page1.datasets.map((d) => d.name)).toEqual(['a-prefs']);
    const page2 = await c.listDatasets({
      page: { pageSize: 1, pageToken: page1.page?.nextPageToken ?? '' },
      kind: 0,
      labels: {},
    });
    expect([page2.datasets.map((d) => d.name), page2.page?.nextPageToken]).toEqual([
      ['support-chats'],
      '',
    ]);
    const sft = await c.listDatasets({
      page: undefined,
      kind: DatasetKind.DATASET_KIND_SFT,
      labels: {},
    });
    expect(sft.datasets.map((d) => d.name)).toEqual(['support-chats']);
    const labelled = await c.listDatasets({ page: undefined, kind: 0, labels: { team: 'x' } });
    expect(labelled.datasets.map((d) => d.name)).toEqual(['a-prefs']);
    const missing = await failure(c.getDataset({ name: 'absent' }));
    expect([missing.code, missing.rawMessage]).toEqual([
      status.NOT_FOUND,
      'dataset "absent" not found',
    ]);
    c.close();
  });

  it("stops at start, exit 1, with the kit's start-failed line naming the storage and why", async () => {
    const run = spawnProcess({
      entry: ENTRY,
      cwd: REPO_ROOT,
      env: { LATHE_AUTH_MODE: 'none', LATHE_DATASETS_ARTIFACT_STORE: 'nats' },
    });
    expect((await run.exited).code).toBe(1);
    expect(run.stderr).toEqual([]);
    const failed = run.stdout
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['level'] === 'error');
    expect(failed).toMatchObject([
      {
        service: 'datasets',
        msg: 'start failed',
        fields: {
          error: {
            message: 'cannot open storage: LATHE_DATASETS_ARTIFACT_STORE=nats needs NATS_URL',
          },
        },
      },
    ]);
  }, 60_000);
});
