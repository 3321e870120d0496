import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  CreateDatasetRequest,
  DatasetServiceService,
  GetDatasetRequest,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { createClient, LatheError } from '@lathe/service-kit';
import { checkHealth, runUntilExit, startServiceUnderTest } from '@lathe/service-kit/testing';
import type { ServiceUnderTest } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (e instanceof LatheError) return e;
  throw e;
}

describe('the datasets service process', () => {
  let svc: ServiceUnderTest;
  const call = async (
    token: string | undefined,
    request = GetDatasetRequest.fromPartial({ name: 'support' }),
  ): Promise<LatheError> => {
    const c = createClient(DatasetServiceService, svc.process.address, {
      ...(token === undefined ? {} : { token }),
      idempotent: [],
    });
    const e = await failure(c.getDataset(request));
    c.close();
    return e;
  };

  beforeAll(async () => {
    svc = await startServiceUnderTest(entry, 'lathe.datasets');
  });
  afterAll(async () => {
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('is SERVING over real gRPC health checks', async () => {
    expect(await checkHealth(svc.process.address, 'lathe.datasets.v1.DatasetService')).toBe(
      'SERVING',
    );
  });

  it('answers a malformed CreateDataset with INVALID_ARGUMENT listing every bad field', async () => {
    const c = createClient(DatasetServiceService, svc.process.address, {
      token: await svc.token(['dataset-editor']),
      idempotent: [],
    });
    const empty = await failure(c.createDataset(CreateDatasetRequest.fromPartial({ name: '' })));
    expect(empty.code).toBe(status.INVALID_ARGUMENT);
    expect(empty.details.fieldViolations).toEqual([
      { field: 'name', description: 'is required' },
      { field: 'kind', description: 'must be set to a known value' },
    ]);
    expect(empty.details.errorInfo).toEqual({
      reason: 'INVALID_ARGUMENT',
      domain: 'lathe.datasets',
      metadata: {},
    });
    const invalid = await failure(
      c.createDataset(
        CreateDatasetRequest.fromPartial({
          name: 'Support Chats',
          kind: DatasetKind.DATASET_KIND_SFT,
        }),
      ),
    );
    expect(invalid.details.fieldViolations?.map((v) => v.field)).toEqual(['name']);
    const valid = await failure(
      c.createDataset(
        CreateDatasetRequest.fromPartial({
          name: 'support-chats',
          kind: DatasetKind.DATASET_KIND_SFT,
        }),
      ),
    );
    expect(valid.code).toBe(status.UNIMPLEMENTED);
    expect(valid.rawMessage).toBe(
      'lathe.datasets.v1.DatasetService/CreateDataset is not implemented yet',
    );
    c.close();
  });

  it('refuses missing, expired, wrong-audience and alg-none tokens, and the wrong role', async () => {
    const refused = [
      await call(undefined),
      await call(await svc.token(['dataset-reader'], { expiresInSeconds: -300 })),
      await call(await svc.token(['dataset-reader'], { audience: 'lathe.registry' })),
      await call(svc.unsignedToken(['admin'])),
    ];
    expect(refused.map((e) => e.code)).toEqual(Array<number>(4).fill(status.UNAUTHENTICATED));
    const wrongRole = await call(await svc.token(['model-reader']));
    expect(wrongRole.code).toBe(status.PERMISSION_DENIED);
    expect((await call(await svc.token(['dataset-reader']))).code).toBe(status.UNIMPLEMENTED);
  });

  it('stops at start with one line naming a bad variable', async () => {
    const { code, stderr } = await runUntilExit(entry, {
      LATHE_AUTH_MODE: 'none',
      LATHE_DATASETS_PORT: 'eighty',
    });
    expect(code).toBe(78);
    expect(stderr).toEqual([
      'datasets: invalid configuration: LATHE_DATASETS_PORT must be an integer, got "eighty"',
    ]);
  });
});
