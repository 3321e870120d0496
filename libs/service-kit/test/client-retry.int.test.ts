import { status } from '@grpc/grpc-js';
import {
  GetModelVersionRequest,
  RegisterAdapterRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import { LatheError } from '../src/errors/lathe-error.js';
import type { RunningService } from '../src/server/start-service.js';
import { startRegistry } from './in-process-service.js';

// Each rpc fails `failuresLeft` times with `failWith`, then answers; attempts are counted server-side.
let attempts = 0;
let failuresLeft = 0;
let failWith: () => LatheError = () => LatheError.unavailable('database restarting');

function flaky<T>(answer: T): () => Promise<T> {
  return () => {
    attempts++;
    if (failuresLeft > 0) {
      failuresLeft--;
      return Promise.reject(failWith());
    }
    return Promise.resolve(answer);
  };
}

describe('client retries', () => {
  let service: RunningService;
  let address: string;
  beforeAll(async () => {
    ({ service, address } = await startRegistry(
      {
        getModelVersion: flaky({ version: undefined }),
        registerAdapter: flaky({ version: undefined }),
      },
      { env: { LATHE_AUTH_MODE: 'none' } },
    ));
  });
  afterAll(async () => {
    await service.shutdown(1000);
  });
  beforeEach(() => {
    attempts = 0;
    failuresLeft = 0;
    failWith = () => LatheError.unavailable('database restarting');
  });

  const client = () =>
    createClient(RegistryServiceService, address, {
      idempotent: ['getModelVersion'],
      backoff: { initialMs: 20, maxMs: 50 },
      deadlineMs: 5000,
    });
  const get = GetModelVersionRequest.fromPartial({ ref: { name: 'llama' } });
  const register = RegisterAdapterRequest.fromPartial({ name: 'adapter' });

  it('retries an idempotent rpc on UNAVAILABLE until it succeeds', async () => {
    failuresLeft = 2;
    const c = client();
    await c.getModelVersion(get);
    c.close();
    expect(attempts).toBe(3);
  });

  it('gives up after maxAttempts and reports the last UNAVAILABLE', async () => {
    failuresLeft = 10;
    const c = client();
    await expect(c.getModelVersion(get)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      rawMessage: 'database restarting',
    });
    c.close();
    expect(attempts).toBe(4);
  });

  it('never retries an rpc not declared idempotent', async () => {
    failuresLeft = 1;
    const c = client();
    await expect(c.registerAdapter(register)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    c.close();
    expect(attempts).toBe(1);
  });

  it('never retries codes other than UNAVAILABLE', async () => {
    failuresLeft = 1;
    failWith = () => LatheError.aborted('revision moved');
    const c = client();
    const error: unknown = await c.getModelVersion(get).catch((e: unknown) => e);
    c.close();
    expect(error).toBeInstanceOf(LatheError);
    expect((error as LatheError).code).toBe(status.ABORTED);
    expect(attempts).toBe(1);
  });

  it('retries when the server is not there yet, then fails with UNAVAILABLE within the deadline', async () => {
    const c = createClient(RegistryServiceService, '127.0.0.1:1', {
      idempotent: ['getModelVersion'],
      backoff: { initialMs: 10, maxMs: 20 },
      deadlineMs: 2000,
    });
    const started = Date.now();
    await expect(c.getModelVersion(get)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(Date.now() - started).toBeLessThan(2500);
    c.close();
  });
});
