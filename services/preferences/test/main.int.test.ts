import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  CreateTaskRequest,
  PreferenceServiceService,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { createClient, isLatheError } from '@lathe/service-kit';
import { checkHealth, runUntilExit, startServiceUnderTest } from '@lathe/service-kit/testing';
import type { ServiceUnderTest } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The checks of the kit's describeServiceProcess on the real entry point (embedded store and bus),
// written out here because that suite also requires an rpc answering UNIMPLEMENTED and every rpc
// of this service is built.
const ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function codeOf(p: Promise<unknown>): Promise<number> {
  const e = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (!isLatheError(e)) throw e;
  return e.code;
}

describe('the preferences service process', () => {
  let svc: ServiceUnderTest;
  const call = (token: string | undefined) => {
    const c = createClient(PreferenceServiceService, svc.process.address, {
      ...(token === undefined ? {} : { token }),
      idempotent: [],
    });
    return codeOf(c.listTasks({ page: undefined })).finally(() => c.close());
  };

  beforeAll(async () => {
    svc = await startServiceUnderTest(ENTRY, 'lathe.preferences', {
      LATHE_PREFERENCES_WEB_PORT: '0',
    });
  }, 60_000);
  afterAll(async () => {
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('is SERVING and answers a malformed request with its field violations', async () => {
    expect(await checkHealth(svc.process.address, 'lathe.preferences.v1.PreferenceService')).toBe(
      'SERVING',
    );
    const c = createClient(PreferenceServiceService, svc.process.address, {
      token: await svc.token(['admin']),
      idempotent: [],
    });
    const e = await c
      .createTask(CreateTaskRequest.fromPartial({ displayName: '', annotatorsPerItem: 0 }))
      .catch((error: unknown) => error);
    c.close();
    if (!isLatheError(e)) throw new Error('expected a LatheError');
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details.fieldViolations?.map((v) => v.field)).toEqual([
      'displayName',
      'annotatorsPerItem',
    ]);
    expect(e.details.errorInfo.domain).toBe('lathe.preferences');
  });

  it('refuses missing, expired, wrong-audience and alg-none tokens, and tokens without a role', async () => {
    expect([
      await call(undefined),
      await call(await svc.token(['annotator'], { expiresInSeconds: -300 })),
      await call(await svc.token(['annotator'], { audience: 'lathe.elsewhere' })),
      await call(svc.unsignedToken(['annotator'])),
    ]).toEqual(Array.from({ length: 4 }, () => status.UNAUTHENTICATED));
    expect(await call(await svc.token(['no-such-role']))).toBe(status.PERMISSION_DENIED);
  });

  it('stops at start with one line naming a missing or invalid variable', async () => {
    const missing = await runUntilExit(ENTRY, {
      LATHE_JWT_SECRET: 'service-test-secret-that-is-32-bytes',
    });
    expect(missing).toEqual({
      code: 78,
      stderr: [
        'preferences: invalid configuration: LATHE_JWT_ISSUER is required when LATHE_AUTH_MODE=jwt',
      ],
    });
    const invalid = await runUntilExit(ENTRY, {
      LATHE_AUTH_MODE: 'none',
      LATHE_PREFERENCES_RATE_BURST: 'many',
    });
    expect(invalid).toEqual({
      code: 78,
      stderr: [
        'preferences: invalid configuration: LATHE_PREFERENCES_RATE_BURST must be an integer, got "many"',
      ],
    });
  });

  it('exits 1, releasing what it opened, when the web page port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const run = await runUntilExit(ENTRY, {
        LATHE_AUTH_MODE: 'none',
        LATHE_PREFERENCES_WEB_PORT: String(port),
      });
      expect(run.code).toBe(1);
    } finally {
      taken.close();
    }
  }, 60_000);
});
