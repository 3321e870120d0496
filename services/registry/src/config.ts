import { env, serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_REGISTRY_*`, the error domain `lathe.registry`. */
export const REGISTRY_SERVICE = 'registry';

/** Port when neither LATHE_REGISTRY_PORT nor LATHE_GRPC_PORT is set. */
export const REGISTRY_DEFAULT_PORT = 50065;

/** Environment variables of the registry service, validated at start: the kit's common set. */
export const registryEnvSchema = serviceEnvSchema(REGISTRY_SERVICE, REGISTRY_DEFAULT_PORT);

/** The registry's own storage variables, validated at start beside the kit's. */
export const registryStorageEnvSchema = {
  storeUrl: env.string(
    'LATHE_REGISTRY_STORE_URL',
    'metadata store: postgres://..., pglite:memory or pglite:<dir>',
    'pglite:memory',
  ),
  artifacts: env.string(
    'LATHE_REGISTRY_ARTIFACTS',
    'artifact store: "nats" (Object Store bucket lathe-registry on NATS_URL) or a local directory',
    '.lathe/artifacts',
  ),
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS with JetStream for events (and artifacts when LATHE_REGISTRY_ARTIFACTS=nats); unset: in-process events',
  ),
  workDir: env.string(
    'LATHE_REGISTRY_WORK_DIR',
    'scratch directory for staging uploads and merges',
    '.lathe/registry-work',
  ),
  importRoots: env.list(
    'LATHE_REGISTRY_IMPORT_ROOTS',
    'comma-separated directories ImportModelFromPath may read; empty refuses every path',
    [],
  ),
};
