import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  ListModelsRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import { LatheError } from '../src/errors/lathe-error.js';
import { REPO_ROOT } from '../src/testing/service-under-test.js';
import { spawnProcess, spawnService } from '../src/testing/spawn-service.js';
import type { SpawnedService } from '../src/testing/spawn-service.js';

const repoRoot = REPO_ROOT;
const entry = fileURLToPath(new URL('./fixtures/slow-registry-main.ts', import.meta.url));

async function untilLogged(service: SpawnedService, msg: string): Promise<void> {
  for (let i = 0; i < 200 && !service.stdout.some((l) => l.includes(`"msg":"${msg}"`)); i++)
    await new Promise((r) => setTimeout(r, 25));
}

describe('SIGTERM with a call in flight', () => {
  it('lets the call complete, refuses new calls, then exits 0', async () => {
    const service = await spawnService({
      entry,
      cwd: repoRoot,
      env: { LATHE_AUTH_MODE: 'none', LATHE_SHUTDOWN_GRACE_MS: '10000' },
    });
    const client = createClient(RegistryServiceService, service.address, {
      idempotent: [],
      deadlineMs: 10_000,
    });
    const inFlight = client.listModels(ListModelsRequest.fromPartial({ page: { pageSize: 1500 } }));
    await untilLogged(service, 'slow call started');
    const signalledAt = Date.now();
    const exited = service.stop('SIGTERM');
    await untilLogged(service, 'shutting down');

    const late = await client
      .listModels(ListModelsRequest.fromPartial({ page: { pageSize: 0 } }))
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(LatheError);
    expect((late as LatheError).code).toBe(status.UNAVAILABLE);

    const response = await inFlight;
    expect(response.page?.nextPageToken).toBe('finished');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeGreaterThan(500);
    client.close();
  });

  it('cancels calls still running when the grace period ends, and still exits 0', async () => {
    const service = await spawnService({
      entry,
      cwd: repoRoot,
      env: { LATHE_AUTH_MODE: 'none', LATHE_SHUTDOWN_GRACE_MS: '300' },
    });
    const client = createClient(RegistryServiceService, service.address, {
      idempotent: [],
      deadlineMs: 20_000,
    });
    const inFlight = client
      .listModels(ListModelsRequest.fromPartial({ page: { pageSize: 15_000 } }))
      .catch((e: unknown) => e);
    await untilLogged(service, 'slow call started');
    const signalledAt = Date.now();
    expect(await service.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(5000);
    const outcome = await inFlight;
    expect(outcome).toBeInstanceOf(LatheError);
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain((outcome as LatheError).code);
    expect(service.stdout.some((l) => l.includes('grace period over'))).toBe(true);
    client.close();
  });

  it('stops at start with one line naming a bad variable', async () => {
    const p = spawnProcess({
      entry,
      cwd: repoRoot,
      env: { LATHE_AUTH_MODE: 'none', LATHE_SHUTDOWN_GRACE_MS: 'soon' },
    });
    expect((await p.exited).code).toBe(78);
    expect(p.stderr).toEqual([
      'registry: invalid configuration: LATHE_SHUTDOWN_GRACE_MS must be an integer, got "soon"',
    ]);
  });
});
