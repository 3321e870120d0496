// The variables the training service (main.ts) and its trainers (worker-main.ts) both read,
// declared once: they must agree on the store, the work queue's settings and where the other
// services are, so one setting serves both processes.
import { env } from '@lathe/service-kit';

/** The process reading the variables: the gRPC service or a trainer worker. */
export type TrainingProcess = 'service' | 'worker';

/**
 * The shared variables as `reader` reads them. A knob with a name per process (`LATHE_TRAINING_*`,
 * `LATHE_WORKER_*`) takes the reader's own name first and the other one as fallback. The store
 * has a default (`pglite:memory`) for the service alone: a worker must be given the database the
 * service uses.
 */
export function sharedTrainingEnv(reader: TrainingProcess) {
  const ownNameFirst = (service: string, worker: string): readonly string[] =>
    reader === 'service' ? [service, worker] : [worker, service];
  return {
    storeUrl: env.string(
      ['LATHE_TRAINING_DATABASE_URL', 'LATHE_TRAINING_STORE_URL', 'DATABASE_URL'],
      'metadata store: postgres://..., pglite:memory or pglite:<dir> (schema "training"); the service and its workers share it (workers write their attempts there)',
      reader === 'service' ? 'pglite:memory' : undefined,
    ),
    registryAddr: env.string(
      'LATHE_REGISTRY_ADDR',
      'registry gRPC address (host:port): resolves base models; trainers register results there',
      '127.0.0.1:50065',
    ),
    datasetsAddr: env.string(
      'LATHE_DATASETS_ADDR',
      'datasets gRPC address (host:port): resolves dataset versions; trainers read records there',
      '127.0.0.1:50061',
    ),
    ackWaitMs: env.integer(
      ownNameFirst('LATHE_TRAINING_ACK_WAIT_MS', 'LATHE_WORKER_ACK_WAIT_MS'),
      "work-queue ack wait: a job no trainer heartbeats this long goes to another trainer (keep the service's and the workers' equal: the last to declare the queue sets it)",
      { min: 1000, max: 3_600_000 },
      30_000,
    ),
    maxDeliveries: env.integer(
      ownNameFirst('LATHE_TRAINING_MAX_DELIVERIES', 'LATHE_WORKER_MAX_DELIVERIES'),
      "work-queue deliveries before JetStream stops redelivering a job (keep the service's and the workers' equal; the store bounds attempts too)",
      { min: 1, max: 1000 },
      10,
    ),
  };
}
