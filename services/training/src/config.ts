import { env, serviceEnvSchema } from '@lathe/service-kit';
import { DEFAULT_MAX_ATTEMPTS } from './store/job-store.js';

/** Short name of the service: env variables are `LATHE_TRAINING_*`, the error domain `lathe.training`. */
export const TRAINING_SERVICE = 'training';

/** Port when neither LATHE_TRAINING_PORT nor LATHE_GRPC_PORT is set. */
export const TRAINING_DEFAULT_PORT = 50064;

/**
 * Environment variables of the training service shared with every service (listen address,
 * auth, TLS, message sizes, shutdown, logs), validated at start by the kit.
 */
export const trainingEnvSchema = serviceEnvSchema(TRAINING_SERVICE, TRAINING_DEFAULT_PORT);

/** The training service's own variables: storage, bus, downstream services, queue and attempts. */
export const trainingRuntimeEnvSchema = {
  storeUrl: env.string(
    ['LATHE_TRAINING_DATABASE_URL', 'LATHE_TRAINING_STORE_URL', 'DATABASE_URL'],
    'metadata store: postgres://..., pglite:memory or pglite:<dir> (schema "training"); workers must share it',
    'pglite:memory',
  ),
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS with JetStream for the work queue and events; unset: in-process bus (only workers in this process see jobs)',
  ),
  registryAddr: env.string(
    'LATHE_REGISTRY_ADDR',
    'registry gRPC address (host:port): resolves base models',
    '127.0.0.1:50065',
  ),
  datasetsAddr: env.string(
    'LATHE_DATASETS_ADDR',
    'datasets gRPC address (host:port): resolves dataset versions',
    '127.0.0.1:50061',
  ),
  quantizationAddr: env.string(
    'LATHE_QUANTIZATION_ADDR',
    'quantization gRPC address (host:port): NF4 bases of QLoRA jobs',
    '127.0.0.1:50063',
  ),
  token: env.optionalString(
    'LATHE_TRAINING_TOKEN',
    'bearer token for the registry, datasets and quantization calls (model-reader, dataset-reader, model-editor); unset: none',
  ),
  maxAttempts: env.integer(
    'LATHE_TRAINING_MAX_ATTEMPTS',
    'attempts (deliveries to trainers) a new job gets before it fails with reason max_attempts',
    { min: 1, max: 100 },
    DEFAULT_MAX_ATTEMPTS,
  ),
  ackWaitMs: env.integer(
    ['LATHE_TRAINING_ACK_WAIT_MS', 'LATHE_WORKER_ACK_WAIT_MS'],
    "work-queue ack wait: a job no trainer heartbeats this long goes to another trainer (keep equal to the workers')",
    { min: 1000, max: 3_600_000 },
    30_000,
  ),
  maxDeliveries: env.integer(
    ['LATHE_TRAINING_MAX_DELIVERIES', 'LATHE_WORKER_MAX_DELIVERIES'],
    "work-queue deliveries before JetStream stops redelivering a job (keep equal to the workers')",
    { min: 1, max: 1000 },
    10,
  ),
  watchPollMs: env.integer(
    'LATHE_TRAINING_WATCH_POLL_MS',
    'how often a WatchJob stream looks for new events',
    { min: 10, max: 60_000 },
    200,
  ),
  quantizeTimeoutMs: env.integer(
    'LATHE_TRAINING_QUANTIZE_TIMEOUT_MS',
    'how long a QLoRA job waits for its NF4 base before failing',
    { min: 1000, max: 86_400_000 },
    3_600_000,
  ),
};
