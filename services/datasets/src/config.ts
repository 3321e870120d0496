import { env, serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_DATASETS_*`, the error domain `lathe.datasets`. */
export const DATASETS_SERVICE = 'datasets';

/** Port when neither LATHE_DATASETS_PORT nor LATHE_GRPC_PORT is set. */
export const DATASETS_DEFAULT_PORT = 50061;

/**
 * Environment variables of the datasets service shared with every service (listen address,
 * auth, TLS, message sizes, shutdown, logs), validated at start by the kit.
 */
export const datasetsEnvSchema = serviceEnvSchema(DATASETS_SERVICE, DATASETS_DEFAULT_PORT);

/** Where the service keeps its metadata, events and artifacts. */
export const datasetsStorageEnvSchema = {
  storeUrl: env.string(
    ['LATHE_DATASETS_DATABASE_URL', 'DATABASE_URL'],
    'metadata store: postgres://..., pglite:memory or pglite:<dir> (schema "datasets")',
    'pglite:memory',
  ),
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS server for events (and artifacts when LATHE_DATASETS_ARTIFACT_STORE=nats); unset: in-process bus',
  ),
  artifactStore: env.string(
    'LATHE_DATASETS_ARTIFACT_STORE',
    'artifact store: "local" (a directory) or "nats" (JetStream Object Store bucket lathe-datasets)',
    'local',
  ),
  registryAddr: env.optionalString(
    'LATHE_DATASETS_REGISTRY_ADDR',
    'registry address (host:port) for the tokenizers of token-length filters; unset: such filters are refused',
  ),
  registryToken: env.optionalString(
    'LATHE_DATASETS_REGISTRY_TOKEN',
    'bearer token (model-reader) for the registry; unset: none',
  ),
  artifactDir: env.string(
    'LATHE_DATASETS_ARTIFACT_DIR',
    'root directory of the local artifact store',
    '.lathe/artifacts',
  ),
  curationMemoryMib: env.integer(
    'LATHE_DATASETS_CURATION_MEMORY_MIB',
    "memory budget of a curation run's external sorts in MiB (temporary files go under TMPDIR); results do not depend on it",
    { min: 1, max: 65_536 },
    16,
  ),
};
