import { env, serviceEnvSchema } from '@lathe/service-kit';
import { sharedTrainingEnv } from './shared-env.js';
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

const shared = sharedTrainingEnv('service');

/**
 * Default of LATHE_TRAINING_STALE_ATTEMPT_MS, ms. A live trainer writes a heartbeat to the store
 * every LATHE_WORKER_HEARTBEAT_MS (default a third of the 30 s ack wait: 10 s) and a failed one is
 * retried by the next beat. JetStream itself takes a trainer silent for one ack wait for dead (it
 * redelivers), so this threshold must be at least the ack wait; four default ack waits (twelve
 * default heartbeat intervals) also ride out a database failover or a long pause of the trainer,
 * and still end within minutes a job whose trainer died on its last delivery, which nothing else
 * would ever end.
 */
export const DEFAULT_STALE_ATTEMPT_MS = 120_000;

/**
 * The training service's own variables: storage, bus, downstream services, queue and attempts
 * (those its trainers read too are declared in `shared-env.ts`).
 */
export const trainingRuntimeEnvSchema = {
  storeUrl: shared.storeUrl,
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS with JetStream for the work queue and events; unset: in-process bus (only workers in this process see jobs)',
  ),
  registryAddr: shared.registryAddr,
  datasetsAddr: shared.datasetsAddr,
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
  ackWaitMs: shared.ackWaitMs,
  maxDeliveries: shared.maxDeliveries,
  watchPollMs: env.integer(
    'LATHE_TRAINING_WATCH_POLL_MS',
    'how often a WatchJob stream looks for new events',
    { min: 10, max: 60_000 },
    200,
  ),
  strandedSweepMs: env.integer(
    'LATHE_TRAINING_STRANDED_SWEEP_MS',
    'how often (and once at start) the service looks for jobs no trainer could start: MAX_DELIVERIES advisories it missed, QUEUED jobs whose work message is gone (JetStream only)',
    { min: 1000, max: 86_400_000 },
    60_000,
  ),
  queuedLostAfterMs: env.integer(
    'LATHE_TRAINING_QUEUED_LOST_AFTER_MS',
    'a QUEUED job unchanged this long whose work message is no longer on the queue fails with reason WORK_MESSAGE_LOST',
    { min: 1000, max: 604_800_000 },
    600_000,
  ),
  staleAttemptMs: env.integer(
    'LATHE_TRAINING_STALE_ATTEMPT_MS',
    'a RUNNING attempt without a heartbeat this long no longer holds a job whose work message is exhausted: the attempt ends LOST and the job fails DELIVERIES_EXHAUSTED (keep it at least the ack wait, several heartbeat intervals)',
    { min: 1000, max: 86_400_000 },
    DEFAULT_STALE_ATTEMPT_MS,
  ),
  quantizeTimeoutMs: env.integer(
    'LATHE_TRAINING_QUANTIZE_TIMEOUT_MS',
    'how long a QLoRA job waits for its NF4 base before failing',
    { min: 1000, max: 86_400_000 },
    3_600_000,
  ),
};
