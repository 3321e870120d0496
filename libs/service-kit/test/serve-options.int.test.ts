// How a service's server may differ from the kit's defaults: a custom verifier, and an
// `afterListen` step whose fields join the `listening` line and whose failure stops the server.
import { createServer } from 'node:net';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import { readServiceSettings } from '../src/config/service-config.js';
import { LatheError } from '../src/errors/lathe-error.js';
import { Logger } from '../src/log/logger.js';
import { startService } from '../src/server/start-service.js';
import { signTestToken } from '../src/testing/test-tokens.js';
import type { ServiceHandlers } from '../src/server/handler-types.js';
import type { Registry } from './in-process-service.js';
import { registryDescriptor, TEST_JWT } from './in-process-service.js';

const OPAQUE = 'opaque-token-of-this-service';

const descriptor = (handlers: ServiceHandlers<Registry> = {}) =>
  registryDescriptor(handlers, ['model-reader']);

const settings = (auth: 'jwt' | 'none' = 'jwt', port = 0) =>
  readServiceSettings('registry', 0, {
    LATHE_GRPC_HOST: '127.0.0.1',
    LATHE_REGISTRY_PORT: String(port),
    LATHE_JWT_SECRET: TEST_JWT.secret,
    LATHE_JWT_ISSUER: TEST_JWT.issuer,
    ...(auth === 'none' ? { LATHE_AUTH_MODE: 'none' } : {}),
  });

/** A port nothing listens on now (the OS's pick, released at once). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

describe('serve options', () => {
  it('serves through the custom verifier, and adds the fields afterListen returns', async () => {
    const events: string[] = [];
    const service = await startService(
      descriptor({
        listModels: (_r, ctx) =>
          Promise.resolve({
            models: [],
            page: { nextPageToken: ctx.principal?.subject ?? 'nobody', totalSize: 0 },
          }),
      }),
      settings(),
      new Logger('registry', 'error'),
      {
        // The service's own opaque tokens first, then the kit's JWTs.
        verifier: (jwt) => async (token) => {
          if (token === OPAQUE)
            return { subject: 'opaque-caller', roles: ['model-reader'], claims: {} };
          if (jwt === undefined) throw LatheError.unauthenticated('no JWT verifier');
          return jwt(token);
        },
        afterListen: async () => {
          events.push('after listen');
          return Promise.resolve({ extra: 7 });
        },
      },
    );
    expect(service.fields).toEqual({ extra: 7 });
    const address = `127.0.0.1:${String(service.port)}`;
    const call = async (token: string) => {
      const client = createClient(RegistryServiceService, address, { token, idempotent: [] });
      try {
        return (await client.listModels({ kind: 0, namePrefix: '', page: undefined, labels: {} }))
          .page?.nextPageToken;
      } finally {
        client.close();
      }
    };
    expect(await call(OPAQUE)).toBe('opaque-caller');
    const jwt = await signTestToken({
      secret: TEST_JWT.secret,
      issuer: TEST_JWT.issuer,
      audience: TEST_JWT.audience,
      roles: ['model-reader'],
      subject: 'jwt-caller',
    });
    expect(await call(jwt)).toBe('jwt-caller');
    await expect(call('made-up')).rejects.toMatchObject({ code: 16 }); // UNAUTHENTICATED
    expect(events).toEqual(['after listen']);
    expect(await service.shutdown(1000)).toEqual({ forced: false });
  });

  it('stops the server, freeing its port, when afterListen fails', async () => {
    const port = await freePort();
    await expect(
      startService(descriptor(), settings('jwt', port), new Logger('registry', 'error'), {
        afterListen: () => Promise.reject(new Error('second listener: port taken')),
      }),
    ).rejects.toThrow('second listener: port taken');
    // The port is free again: the failed start left no server bound to it.
    const again = await startService(
      descriptor(),
      settings('jwt', port),
      new Logger('registry', 'error'),
    );
    expect(again.port).toBe(port);
    await again.shutdown(1000);
  });

  it('does not consult the verifier hook with LATHE_AUTH_MODE=none', async () => {
    let consulted = false;
    const service = await startService(
      descriptor(),
      settings('none'),
      new Logger('registry', 'error'),
      {
        verifier: () => {
          consulted = true;
          return () => Promise.reject(new Error('unused'));
        },
      },
    );
    await service.shutdown(1000);
    expect(consulted).toBe(false);
  });
});
