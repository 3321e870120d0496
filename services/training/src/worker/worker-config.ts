// The trainer worker's environment, validated once at start.
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, readEnv, type ConfigOf, type Environment } from '@lathe/service-kit';
import { sharedTrainingEnv } from '../shared-env.js';

const shared = sharedTrainingEnv('worker');

/**
 * Environment variables of the trainer worker (`worker-main.ts`), each with its default (those
 * the service reads too are declared in `shared-env.ts`).
 */
export const workerEnvSchema = {
  natsUrl: env.string('NATS_URL', 'NATS with JetStream: the work queue and events'),
  storeUrl: shared.storeUrl,
  registryAddress: shared.registryAddr,
  datasetsAddress: shared.datasetsAddr,
  token: env.optionalString(
    ['LATHE_WORKER_TOKEN', 'LATHE_TRAINING_TOKEN'],
    'bearer token for the registry and datasets calls; unset sends none',
  ),
  artifacts: env.string(
    'LATHE_WORKER_ARTIFACTS',
    'artifact store shared with the registry: "nats" (Object Store on NATS_URL) or a local directory; checkpoints go to namespace "training", results to "registry"',
    '.lathe/artifacts',
  ),
  device: env.oneOf('LATHE_WORKER_DEVICE', 'execution provider and queue', ['cpu', 'cuda'], 'cpu'),
  concurrency: env.integer(
    'LATHE_WORKER_CONCURRENCY',
    'jobs trained at once by this process',
    { min: 1, max: 64 },
    1,
  ),
  workerId: env.string(
    'LATHE_WORKER_ID',
    'identity in attempt rows',
    `${hostname()}-${process.pid}`,
  ),
  scratchDir: env.string(
    'LATHE_WORKER_SCRATCH_DIR',
    'models, datasets (cached by digest) and run folders',
    join(tmpdir(), 'lathe-worker'),
  ),
  threads: env.integer(
    'LATHE_WORKER_THREADS',
    'onnxruntime intra-op threads per job; 0: onnxruntime default (the job spec cpu_threads wins)',
    { min: 0, max: 1024 },
    0,
  ),
  ackWaitMs: shared.ackWaitMs,
  maxDeliveries: shared.maxDeliveries,
  heartbeatMs: env.integer(
    'LATHE_WORKER_HEARTBEAT_MS',
    'interval of in-progress acks and store heartbeats; 0: a third of the ack wait',
    { min: 0, max: 3_600_000 },
    0,
  ),
  checkpointEvery: env.integer(
    'LATHE_WORKER_CHECKPOINT_EVERY',
    'checkpoint interval in steps when the spec leaves checkpoint_every_steps at 0; 0: only at the end',
    { min: 0, max: 1_000_000_000 },
    0,
  ),
  progressIntervalMs: env.integer(
    'LATHE_WORKER_PROGRESS_INTERVAL_MS',
    'least time between two progress writes of one job (the last step is always written)',
    { min: 0, max: 3_600_000 },
    2000,
  ),
  cancelPollMs: env.integer(
    'LATHE_WORKER_CANCEL_POLL_MS',
    'interval of cancel checks while training',
    { min: 50, max: 600_000 },
    1000,
  ),
  retryDelayMs: env.integer(
    'LATHE_WORKER_RETRY_DELAY_MS',
    'delay before a job that failed transiently is offered again',
    { min: 0, max: 3_600_000 },
    5000,
  ),
  idleTransactionTimeoutMs: env.integer(
    'LATHE_WORKER_IDLE_TX_TIMEOUT_MS',
    "PostgreSQL idle_in_transaction_session_timeout of the worker's connections: a worker paused inside a store write loses its session (and the job row lock) after this long, so another worker can take the job over; 0 leaves the server default",
    { min: 0, max: 3_600_000 },
    10_000,
  ),
  stepSpanGroup: env.integer(
    'LATHE_WORKER_STEP_SPAN_GROUP',
    'optimizer steps per "training.steps" span',
    { min: 1, max: 1_000_000 },
    10,
  ),
};

/** The worker's validated settings. */
export type WorkerSettings = ConfigOf<typeof workerEnvSchema>;

/** Reads and validates the worker's environment; throws ConfigError naming a bad variable. */
export function readWorkerSettings(source: Environment): WorkerSettings {
  return readEnv(workerEnvSchema, source);
}

/**
 * The store URL with PostgreSQL's `idle_in_transaction_session_timeout` for the worker's
 * sessions (other URLs, and 0, unchanged): a process stopped in the middle of a transaction
 * would otherwise hold the job's row lock, and block the worker taking its job over, until it
 * wakes.
 */
export function storeUrlWithIdleTimeout(url: string, timeoutMs: number): string {
  if (timeoutMs <= 0 || !/^postgres(ql)?:\/\//.test(url)) return url;
  const u = new URL(url);
  u.searchParams.set('idle_in_transaction_session_timeout', String(timeoutMs));
  return u.toString();
}
