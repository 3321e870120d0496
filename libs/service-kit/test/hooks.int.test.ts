// The kit's start-up hooks: async setup before listening, a custom verifier, a `started` step
// whose failure releases what setup opened, and `close` after the server stops.
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import { readServiceSettings } from '../src/config/service-config.js';
import { LatheError } from '../src/errors/lathe-error.js';
import { Logger } from '../src/log/logger.js';
import type { ServiceHooks } from '../src/server/start-service.js';
import { startService } from '../src/server/start-service.js';
import { signTestToken } from '../src/testing/test-tokens.js';
import type { Registry } from './in-process-service.js';
import { TEST_JWT } from './in-process-service.js';

const OPAQUE = 'opaque-token-of-this-service';

function descriptor() {
  const roles = Object.fromEntries(
    Object.keys(RegistryServiceService).map((k) => [k, ['model-reader']]),
  ) as Record<keyof Registry, string[]>;
  return {
    name: 'registry',
    fullName: 'lathe.registry.v1.RegistryService',
    protoFile: 'lathe/registry/v1/registry_service.proto',
    defaultPort: 0,
    definition: RegistryServiceService,
    handlers: {},
    roles,
  };
}

const settings = (auth: 'jwt' | 'none' = 'jwt') =>
  readServiceSettings('registry', 0, {
    LATHE_GRPC_HOST: '127.0.0.1',
    LATHE_REGISTRY_PORT: '0',
    LATHE_JWT_SECRET: TEST_JWT.secret,
    LATHE_JWT_ISSUER: TEST_JWT.issuer,
    ...(auth === 'none' ? { LATHE_AUTH_MODE: 'none' } : {}),
  });

describe('service hooks', () => {
  it('serves the handlers setup built, through the custom verifier, and closes after shutdown', async () => {
    const events: string[] = [];
    const hooks: ServiceHooks<Registry> = {
      setup: async () => {
        events.push('setup');
        await Promise.resolve();
        return {
          handlers: {
            listModels: (_r, ctx) =>
              Promise.resolve({
                models: [],
                page: { nextPageToken: ctx.principal?.subject ?? 'nobody', totalSize: 0 },
              }),
          },
          // The service's own opaque tokens first, then the kit's JWTs.
          verifier: (jwt) => async (token) => {
            if (token === OPAQUE)
              return { subject: 'opaque-caller', roles: ['model-reader'], claims: {} };
            if (jwt === undefined) throw LatheError.unauthenticated('no JWT verifier');
            return jwt(token);
          },
          started: async () => {
            events.push('started');
            return Promise.resolve({ extra: 7 });
          },
          close: async () => {
            events.push('close');
            return Promise.resolve();
          },
        };
      },
    };
    const service = await startService(
      descriptor(),
      settings(),
      new Logger('registry', 'error'),
      hooks,
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
    expect(events).toEqual(['setup', 'started']);
    await service.shutdown(1000);
    expect(events).toEqual(['setup', 'started', 'close']);
  });

  it('releases what setup opened when a step after it fails', async () => {
    let closed = 0;
    const failing: ServiceHooks<Registry> = {
      setup: async () =>
        Promise.resolve({
          started: () => Promise.reject(new Error('second listener: port taken')),
          close: async () => {
            closed++;
            return Promise.resolve();
          },
        }),
    };
    await expect(
      startService(descriptor(), settings(), new Logger('registry', 'error'), failing),
    ).rejects.toThrow('second listener: port taken');
    expect(closed).toBe(1);
  });

  it('does not consult the verifier hook with LATHE_AUTH_MODE=none', async () => {
    let consulted = false;
    const service = await startService(
      descriptor(),
      settings('none'),
      new Logger('registry', 'error'),
      {
        setup: async () =>
          Promise.resolve({
            verifier: () => {
              consulted = true;
              return () => Promise.reject(new Error('unused'));
            },
          }),
      },
    );
    await service.shutdown(1000);
    expect(consulted).toBe(false);
  });
});
