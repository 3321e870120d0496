import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  SetAliasRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
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

describe('the registry service process', () => {
  let svc: ServiceUnderTest;
  beforeAll(async () => {
    svc = await startServiceUnderTest(entry, 'lathe.registry');
  });
  afterAll(async () => {
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  const client = async (roles: string[] | undefined) =>
    createClient(RegistryServiceService, svc.process.address, {
      ...(roles === undefined ? {} : { token: await svc.token(roles) }),
      idempotent: [],
    });

  it('is SERVING over real gRPC health checks', async () => {
    expect(await checkHealth(svc.process.address, 'lathe.registry.v1.RegistryService')).toBe(
      'SERVING',
    );
    expect(await checkHealth(svc.process.address)).toBe('SERVING');
  });

  it('answers a malformed SetAlias with INVALID_ARGUMENT and field violations, a valid one with UNIMPLEMENTED', async () => {
    const c = await client(['admin']);
    const bad = await failure(
      c.setAlias(SetAliasRequest.fromPartial({ name: 'llama', alias: 'Prod!', version: 0 })),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual(['alias', 'version']);
    expect(bad.details.errorInfo.domain).toBe('lathe.registry');
    const todo = await failure(
      c.setAlias(SetAliasRequest.fromPartial({ name: 'llama', alias: 'prod', version: 2 })),
    );
    expect(todo.code).toBe(status.UNIMPLEMENTED);
    expect(todo.rawMessage).toBe(
      'lathe.registry.v1.RegistryService/SetAlias is not implemented yet',
    );
    c.close();
  });

  it('refuses calls without a token, and with a token lacking the role', async () => {
    const anonymous = await client(undefined);
    expect(
      (
        await failure(
          anonymous.setAlias(
            SetAliasRequest.fromPartial({ name: 'llama', alias: 'prod', version: 2 }),
          ),
        )
      ).code,
    ).toBe(status.UNAUTHENTICATED);
    anonymous.close();
    const stranger = await client(['dataset-nobody']);
    expect(
      (
        await failure(
          stranger.setAlias(
            SetAliasRequest.fromPartial({ name: 'llama', alias: 'prod', version: 2 }),
          ),
        )
      ).code,
    ).toBe(status.PERMISSION_DENIED);
    stranger.close();
  });

  it('stops at start with one line naming a missing variable', async () => {
    const { code, stderr } = await runUntilExit(entry, {
      LATHE_JWT_SECRET: 'service-test-secret-that-is-32-bytes',
    });
    expect(code).toBe(78);
    expect(stderr).toEqual([
      'registry: invalid configuration: LATHE_JWT_ISSUER is required when LATHE_AUTH_MODE=jwt',
    ]);
  });
});
