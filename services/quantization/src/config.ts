import { env, serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_QUANTIZATION_*`, the error domain `lathe.quantization`. */
export const QUANTIZATION_SERVICE = 'quantization';

/** Port when neither LATHE_QUANTIZATION_PORT nor LATHE_GRPC_PORT is set. */
export const QUANTIZATION_DEFAULT_PORT = 50063;

/**
 * The kit's common environment variables for this service (listen address, auth, TLS, message
 * sizes, shutdown, logs), validated at start.
 */
export const quantizationEnvSchema = serviceEnvSchema(
  QUANTIZATION_SERVICE,
  QUANTIZATION_DEFAULT_PORT,
);

/** The service's own variables: its store, the registry it works against, scratch space. */
export const quantizationStorageEnvSchema = {
  storeUrl: env.string(
    'LATHE_QUANTIZATION_DATABASE_URL',
    'metadata store: postgres://..., pglite:memory or pglite:<dir> (schema "quantization")',
    'pglite:memory',
  ),
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS with JetStream for events (and artifacts when LATHE_QUANTIZATION_REGISTRY_ARTIFACTS=nats); unset: in-process events',
  ),
  registryAddr: env.string(
    'LATHE_QUANTIZATION_REGISTRY_ADDR',
    'registry address (host:port): sources are resolved and downloaded there, results registered',
    '127.0.0.1:50065',
  ),
  registryToken: env.optionalString(
    'LATHE_QUANTIZATION_REGISTRY_TOKEN',
    'bearer token (role model-editor) for the registry; unset: none',
  ),
  registryArtifacts: env.string(
    'LATHE_QUANTIZATION_REGISTRY_ARTIFACTS',
    'the registry\'s artifact store, where results are put before RegisterQuantizedModel: "nats" (Object Store bucket lathe-registry on NATS_URL) or the directory LATHE_REGISTRY_ARTIFACTS names',
    '.lathe/artifacts',
  ),
  scratchDir: env.optionalString(
    'LATHE_QUANTIZATION_SCRATCH_DIR',
    'scratch directory for downloads and quantized files (per job, removed after); unset: <os tmpdir>/lathe-quantization',
  ),
  concurrency: env.integer(
    'LATHE_QUANTIZATION_CONCURRENCY',
    'jobs quantized at once by this process (each on its own worker thread)',
    { min: 1, max: 64 },
    1,
  ),
  replicaId: env.optionalString(
    'LATHE_QUANTIZATION_REPLICA_ID',
    "this replica's name in job leases: unique among the replicas on one database, stable across its restarts; unset: the host name",
  ),
  leaseMs: env.integer(
    'LATHE_QUANTIZATION_LEASE_MS',
    'how long a running job stays with its replica without renewal (renewed every third of it)',
    { min: 1000, max: 3_600_000 },
    30_000,
  ),
};
