// The training service and its trainers in one process, on one store and one bus: the embedded
// mode of `lathe dev` (PGlite and the in-process bus, which other processes cannot share).
import { resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { credentials } from '@grpc/grpc-js';
import { LocalArtifactStore } from '@lathe/artifacts';
import { DatasetServiceClient } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import {
  Logger,
  createClient,
  readEnv,
  readServiceSettings,
  type Environment,
} from '@lathe/service-kit';
import { TRAINING_DEFAULT_PORT, TRAINING_SERVICE, trainingRuntimeEnvSchema } from './config.js';
import { openTrainingDeps, trainingInputs } from './open-training-deps.js';
import { startTrainingService } from './start-training-service.js';
import { engineFactoryFor, workerCapabilities } from './worker/execution-device.js';
import { WORKER_EVENT_TYPES } from './worker/job-event-publisher.js';
import { TrainerWorker, trainingQueueName } from './worker/trainer-worker.js';
import { readWorkerSettings } from './worker/worker-config.js';

/** The service and its trainers, started by {@link startEmbeddedTraining}. */
export interface EmbeddedTraining {
  /** The gRPC port. */
  readonly port: number;
  /** Stops the trainers (running jobs checkpoint and go back), then the service, then closes. */
  stop(): Promise<void>;
}

/**
 * Starts the training service (its variables, as `main.ts` reads them) and a trainer over the
 * same store and bus (the worker's variables, `LATHE_WORKER_*`, as `worker-main.ts` reads them;
 * `NATS_URL` is not needed: with it unset the bus is the in-process one, shared by both). The
 * trainer keeps its artifacts in the local directory `LATHE_WORKER_ARTIFACTS` (the registry's).
 *
 * @throws ConfigError naming a bad variable
 */
export async function startEmbeddedTraining(environment: Environment): Promise<EmbeddedTraining> {
  const settings = readServiceSettings(TRAINING_SERVICE, TRAINING_DEFAULT_PORT, environment);
  const config = readEnv(trainingRuntimeEnvSchema, environment);
  const workerSettings = readWorkerSettings({
    // The worker's schema asks for both; here the service's store and bus are used instead.
    NATS_URL: 'in-process',
    LATHE_TRAINING_STORE_URL: config.storeUrl,
    ...environment,
  });
  const log = new Logger(TRAINING_SERVICE, settings.logLevel);
  const deps = await openTrainingDeps(config);
  const service = await startTrainingService({ ...trainingInputs(config, deps), settings, log });
  await deps.bus.declareEvents(WORKER_EVENT_TYPES);
  const queue = await deps.bus.workQueue({
    name: trainingQueueName(workerSettings.device),
    codec: JobQueued,
    ackWaitMs: workerSettings.ackWaitMs,
    maxDeliveries: workerSettings.maxDeliveries,
  });
  const scratchDir = resolve(workerSettings.scratchDir);
  await mkdir(scratchDir, { recursive: true });
  const token = workerSettings.token;
  const registry = createClient(RegistryServiceService, workerSettings.registryAddress, {
    idempotent: ['getModelVersion', 'registerAdapter', 'registerFineTunedModel'],
    ...(token === undefined ? {} : { token }),
    deadlineMs: 60_000,
  });
  const datasets = new DatasetServiceClient(
    workerSettings.datasetsAddress,
    credentials.createInsecure(),
  );
  const artifacts = (namespace: string): LocalArtifactStore =>
    new LocalArtifactStore({ root: resolve(workerSettings.artifacts), namespace });
  const workerLog = new Logger('training-worker', settings.logLevel);
  const worker = new TrainerWorker(
    {
      store: deps.store,
      bus: deps.bus,
      registry,
      registryArtifacts: artifacts('registry'),
      trainingArtifacts: artifacts('training'),
      datasets,
      token,
      scratchDir,
      settings: {
        ...workerSettings,
        heartbeatMs:
          workerSettings.heartbeatMs > 0
            ? workerSettings.heartbeatMs
            : Math.max(100, Math.floor(workerSettings.ackWaitMs / 3)),
      },
      capabilities: workerCapabilities(workerSettings),
      engineFactory: engineFactoryFor(workerSettings.device, workerSettings.threads),
      log: workerLog,
    },
    queue,
    { concurrency: workerSettings.concurrency },
  );
  worker.start();
  workerLog.info('worker started', { embedded: true, queue: queue.name });
  return {
    port: service.port,
    stop: async () => {
      await worker.shutdown();
      await service.stop();
      registry.close();
      datasets.close();
      await deps.close();
    },
  };
}
