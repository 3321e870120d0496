import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { readServiceSettings } from '../src/config/service-config.js';
import type { ServiceSettings } from '../src/config/service-config.js';
import { Logger } from '../src/log/logger.js';
import type { RequestRules, ServiceHandlers } from '../src/server/handler-types.js';
import { startService } from '../src/server/start-service.js';
import type { RunningService, ServiceDescriptor } from '../src/server/start-service.js';

/** The real registry contract, served with handlers a test injects (no fake rpcs in the contracts). */
export type Registry = typeof RegistryServiceService;

/** Shared secret and issuer of the JWT-protected test servers. */
export const TEST_JWT = {
  secret: 'kit-test-secret-that-is-32-bytes-long',
  issuer: 'https://id.kit.test',
  audience: 'lathe.registry',
} as const;

const READ = ['model-reader', 'admin'];

/** The registry contract served with `handlers`, every rpc open to `roles`. */
export function registryDescriptor(
  handlers: ServiceHandlers<Registry>,
  roles: readonly string[],
): ServiceDescriptor<Registry> {
  return {
    name: 'registry',
    fullName: 'lathe.registry.v1.RegistryService',
    protoFile: 'lathe/registry/v1/registry_service.proto',
    defaultPort: 0,
    definition: RegistryServiceService,
    handlers,
    roles: Object.fromEntries(
      Object.keys(RegistryServiceService).map((k) => [k, [...roles]]),
    ) as Record<keyof Registry, string[]>,
  };
}

/** Starts the registry contract in this process on a free port. */
export async function startRegistry(
  handlers: ServiceHandlers<Registry>,
  options: { env?: Record<string, string>; rules?: RequestRules<Registry> } = {},
): Promise<{
  address: string;
  service: RunningService;
  logs: string[];
  settings: ServiceSettings;
}> {
  const settings = readServiceSettings('registry', 0, {
    LATHE_GRPC_HOST: '127.0.0.1',
    LATHE_REGISTRY_PORT: '0',
    LATHE_JWT_SECRET: TEST_JWT.secret,
    LATHE_JWT_ISSUER: TEST_JWT.issuer,
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs: string[] = [];
  const descriptor = registryDescriptor(handlers, READ);
  const service = await startService(
    {
      ...descriptor,
      roles: { ...descriptor.roles, deleteModelVersion: ['admin'] },
      ...(options.rules === undefined ? {} : { rules: options.rules }),
    },
    settings,
    new Logger('registry', 'debug', (line) => logs.push(line)),
  );
  return { address: `127.0.0.1:${String(service.port)}`, service, logs, settings };
}
