// Entry point of a trainer worker process: the only module of the worker that reads the
// environment. Pulls jobs from lathe.work.training-<device>, trains them, exits 0 on SIGTERM after
// checkpointing and giving running jobs back.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LocalArtifactStore, NatsArtifactStore, type ArtifactStore } from '@lathe/artifacts';
import { connectJetStreamBus } from '@lathe/bus';
import { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { DatasetServiceClient } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { ConfigError, createClient, EXIT_CONFIG, Logger } from '@lathe/service-kit';
import { connect } from '@nats-io/transport-node';
import { credentials } from '@grpc/grpc-js';
import { openJobStore } from './store/open-job-store.js';
import { engineFactoryFor, probeDevice, workerCapabilities } from './worker/execution-device.js';
import { WORKER_EVENT_TYPES } from './worker/job-event-publisher.js';
import { TrainerWorker, trainingQueueName } from './worker/trainer-worker.js';
import {
  readWorkerSettings,
  storeUrlWithIdleTimeout,
  type WorkerSettings,
} from './worker/worker-config.js';

const log = new Logger('training-worker');

let settings: WorkerSettings;
try {
  settings = readWorkerSettings(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`training-worker: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  throw error;
}

try {
  await probeDevice(settings.device);
} catch (error) {
  process.stderr.write(
    `training-worker: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(EXIT_CONFIG);
}

const scratchDir = resolve(settings.scratchDir);
await mkdir(scratchDir, { recursive: true });
const opened = await openJobStore(
  storeUrlWithIdleTimeout(settings.storeUrl, settings.idleTransactionTimeoutMs),
  `lathe-training-worker-${settings.workerId}`,
);
const bus = await connectJetStreamBus({ servers: settings.natsUrl, name: 'training-worker' });
await bus.declareEvents(WORKER_EVENT_TYPES);
const queue = await bus.workQueue({
  name: trainingQueueName(settings.device),
  codec: JobQueued,
  ackWaitMs: settings.ackWaitMs,
  maxDeliveries: settings.maxDeliveries,
});
const nats =
  settings.artifacts === 'nats'
    ? await connect({ servers: settings.natsUrl, name: 'training-worker-artifacts' })
    : undefined;
const artifactStore = async (namespace: string): Promise<ArtifactStore> =>
  nats === undefined
    ? new LocalArtifactStore({ root: resolve(settings.artifacts), namespace })
    : NatsArtifactStore.open({ connection: nats, namespace });
const token = settings.token;
const registry = createClient(RegistryServiceService, settings.registryAddress, {
  idempotent: ['getModelVersion', 'registerAdapter', 'registerFineTunedModel'],
  ...(token === undefined ? {} : { token }),
  deadlineMs: 60_000,
});
const datasets = new DatasetServiceClient(settings.datasetsAddress, credentials.createInsecure());
const capabilities = workerCapabilities(settings);
const worker = new TrainerWorker(
  {
    store: opened.store,
    bus,
    registry,
    registryArtifacts: await artifactStore('registry'),
    trainingArtifacts: await artifactStore('training'),
    datasets,
    token,
    scratchDir,
    settings: {
      ...settings,
      heartbeatMs:
        settings.heartbeatMs > 0
          ? settings.heartbeatMs
          : Math.max(100, Math.floor(settings.ackWaitMs / 3)),
    },
    capabilities,
    engineFactory: engineFactoryFor(settings.device, settings.threads),
    session: {
      executionProvider: settings.device,
      ...(settings.threads > 0 ? { intraOpThreads: settings.threads } : {}),
    },
    log,
  },
  queue,
  {
    concurrency: settings.concurrency,
    onSettled: (jobId, outcome) => log.info('delivery settled', { jobId, outcome }),
  },
);
worker.start();
log.info('worker started', { ...capabilities, queue: `lathe.work.${queue.name}` });

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info('stopping: checkpointing running jobs and giving them back', {
    signal,
    jobs: worker.activeJobs,
  });
  void (async () => {
    await worker.shutdown();
    registry.close();
    datasets.close();
    await bus.close();
    await nats?.drain();
    await opened.close();
    log.info('worker stopped');
    process.exit(0);
  })();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
