import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../client/create-client.js';
import type { LatheClient } from '../client/create-client.js';
import { isLatheError } from '../errors/lathe-error.js';
import type { LatheError } from '../errors/lathe-error.js';
import type { MethodShape } from '../server/handler-types.js';
import { checkHealth } from './probes.js';
import { runUntilExit, startServiceUnderTest } from './service-under-test.js';
import type { ServiceUnderTest } from './service-under-test.js';

/** What {@link describeServiceProcess} needs to know about a service. */
export interface ServiceProcessSpec<D> {
  /** Absolute path of the service's `src/main.ts` (or built `dist/src/main.js`). */
  readonly entry: string;
  /** Short name, `datasets`. */
  readonly service: string;
  /** Protobuf service name, `lathe.datasets.v1.DatasetService`. */
  readonly fullName: string;
  readonly definition: D;
  /** A role allowed to call `malformed` and `valid`. */
  readonly role: string;
  /** Calls one rpc with a request its rules refuse. */
  readonly malformed: (client: LatheClient<D>) => Promise<unknown>;
  /** The request fields `malformed` must be told about, in order. */
  readonly malformedFields: readonly string[];
  /**
   * Calls the same rpc with a well-formed request that must fail with {@link validCode}
   * (it is also the call the token and role checks make).
   */
  readonly valid: (client: LatheClient<D>) => Promise<unknown>;
  /**
   * The gRPC code `valid` must get from an authorized caller. Default UNIMPLEMENTED (with the
   * kit's "is not implemented yet" message), for a service with an rpc not built yet; a service
   * whose every rpc is built passes the code its domain answers, e.g. NOT_FOUND for a lookup of
   * something absent on an empty store.
   */
  readonly validCode?: status;
  /** Extra environment for the process under test, e.g. a scratch directory or port `0`. */
  readonly env?: Readonly<Record<string, string>>;
  /** The rpc's protobuf method name, `CreateDataset`. */
  readonly method: string;
}

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (isLatheError(e)) return e;
  throw e;
}

/**
 * The checks every Lathe service process must pass, run against its real entry point as a child
 * process over real gRPC: health, field violations, UNIMPLEMENTED, token refusals, roles,
 * start-up failure on bad configuration, and exit 0 on SIGTERM.
 */
export function describeServiceProcess<D extends Readonly<Record<string, MethodShape>>>(
  spec: ServiceProcessSpec<D>,
): void {
  describe(`the ${spec.service} service process`, () => {
    let svc: ServiceUnderTest;
    const client = (token: string | undefined): LatheClient<D> =>
      createClient(spec.definition, svc.process.address, {
        ...(token === undefined ? {} : { token }),
        idempotent: [],
      });
    const codeWith = async (token: string | undefined): Promise<number> => {
      const c = client(token);
      const e = await failure(spec.valid(c));
      c.close();
      return e.code;
    };

    beforeAll(async () => {
      svc = await startServiceUnderTest(spec.entry, `lathe.${spec.service}`, spec.env);
    });
    afterAll(async () => {
      expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });

    it('is SERVING over real gRPC health checks', async () => {
      expect(await checkHealth(svc.process.address, spec.fullName)).toBe('SERVING');
      expect(await checkHealth(svc.process.address)).toBe('SERVING');
    });

    const validCode = spec.validCode ?? status.UNIMPLEMENTED;
    it(`answers a malformed ${spec.method} with INVALID_ARGUMENT and field violations, a valid one with ${status[validCode] ?? String(validCode)}`, async () => {
      const c = client(await svc.token([spec.role]));
      const bad = await failure(spec.malformed(c));
      expect(bad.code).toBe(status.INVALID_ARGUMENT);
      expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual(spec.malformedFields);
      expect(bad.details.errorInfo).toEqual({
        reason: 'INVALID_ARGUMENT',
        domain: `lathe.${spec.service}`,
        metadata: {},
      });
      const answer = await failure(spec.valid(c));
      expect(answer.code).toBe(validCode);
      if (validCode === status.UNIMPLEMENTED)
        expect(answer.rawMessage).toBe(`${spec.fullName}/${spec.method} is not implemented yet`);
      c.close();
    });

    it('refuses missing, expired, wrong-audience and alg-none tokens, and tokens without the role', async () => {
      const refused = [
        await codeWith(undefined),
        await codeWith(await svc.token([spec.role], { expiresInSeconds: -300 })),
        await codeWith(await svc.token([spec.role], { audience: 'lathe.elsewhere' })),
        await codeWith(svc.unsignedToken([spec.role])),
      ];
      expect(refused).toEqual([
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
      ]);
      expect(await codeWith(await svc.token(['no-such-role']))).toBe(status.PERMISSION_DENIED);
    });

    it('stops at start with one line naming a missing or invalid variable', async () => {
      const missing = await runUntilExit(spec.entry, {
        LATHE_JWT_SECRET: 'service-test-secret-that-is-32-bytes',
      });
      expect(missing.code).toBe(78);
      expect(missing.stderr).toEqual([
        `${spec.service}: invalid configuration: LATHE_JWT_ISSUER is required when LATHE_AUTH_MODE=jwt`,
      ]);
      const port = `LATHE_${spec.service.toUpperCase()}_PORT`;
      const invalid = await runUntilExit(spec.entry, { LATHE_AUTH_MODE: 'none', [port]: 'eighty' });
      expect(invalid.code).toBe(78);
      expect(invalid.stderr).toEqual([
        `${spec.service}: invalid configuration: ${port} must be an integer, got "eighty"`,
      ]);
    });
  });
}
