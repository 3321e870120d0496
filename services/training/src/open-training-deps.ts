// Opens what the training service runs on from its configuration: the store (migrated), the bus
// (JetStream when NATS_URL is set, else in-process) with its event streams declared, and the
// clients of the registry, datasets and quantization services; on JetStream, a second connection
// watching the work queues for messages JetStream gave up on.
import { connectJetStreamBus, InProcessBroker, type EventBus } from '@lathe/bus';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ConfigOf } from '@lathe/service-kit';
import { connectDownstream, type DownstreamClients } from './clients/downstream-clients.js';
import type { trainingRuntimeEnvSchema } from './config.js';
import { trainingEvents } from './events/training-events.js';
import { WorkQueueMonitor } from './events/work-queue-monitor.js';
import type { JobStore } from './store/job-store.js';
import type { TrainingServiceInputs } from './training-runtime.js';
import { openJobStore } from './store/open-job-store.js';

/** The opened dependencies, with a way to close them. */
export interface OpenedTrainingDeps {
  readonly store: JobStore;
  readonly bus: EventBus;
  readonly clients: DownstreamClients;
  /** The work queues' watch on JetStream; undefined on the in-process bus. */
  readonly workQueueWatch?: WorkQueueMonitor;
  /** Closes the clients, the bus and the store. */
  close(): Promise<void>;
}

/** Opens the store, the bus and the downstream clients named by `config`. */
export async function openTrainingDeps(
  config: ConfigOf<typeof trainingRuntimeEnvSchema>,
): Promise<OpenedTrainingDeps> {
  const opened = await openJobStore(config.storeUrl);
  let bus: EventBus | undefined;
  let monitorConnection: NatsConnection | undefined;
  let workQueueWatch: WorkQueueMonitor | undefined;
  try {
    bus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'lathe-training' });
    await bus.declareEvents(trainingEvents);
    if (config.natsUrl !== undefined) {
      monitorConnection = await connect({
        servers: config.natsUrl,
        name: 'lathe-training-work-monitor',
      });
      workQueueWatch = await WorkQueueMonitor.open(monitorConnection);
    }
  } catch (error) {
    await monitorConnection?.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await opened.close();
    throw error;
  }
  const openMonitorConnection = monitorConnection;
  const clients = connectDownstream({
    registry: config.registryAddr,
    datasets: config.datasetsAddr,
    quantization: config.quantizationAddr,
    token: config.token,
  });
  const openBus = bus;
  return {
    store: opened.store,
    bus: openBus,
    clients,
    ...(workQueueWatch === undefined ? {} : { workQueueWatch }),
    close: async () => {
      clients.close();
      await workQueueWatch?.close();
      await openMonitorConnection?.drain();
      await openBus.close();
      await opened.close();
    },
  };
}

/** The service's inputs from its configuration and the dependencies opened from it. */
export function trainingInputs(
  config: ConfigOf<typeof trainingRuntimeEnvSchema>,
  deps: OpenedTrainingDeps,
): TrainingServiceInputs {
  return {
    store: deps.store,
    bus: deps.bus,
    models: deps.clients.models,
    datasets: deps.clients.datasets,
    quantizer: deps.clients.quantizer,
    maxAttempts: config.maxAttempts,
    ackWaitMs: config.ackWaitMs,
    maxDeliveries: config.maxDeliveries,
    watchPollMs: config.watchPollMs,
    quantizeTimeoutMs: config.quantizeTimeoutMs,
    ...(deps.workQueueWatch === undefined ? {} : { workQueueWatch: deps.workQueueWatch }),
    strandedSweepMs: config.strandedSweepMs,
    queuedLostAfterMs: config.queuedLostAfterMs,
    staleAttemptMs: config.staleAttemptMs,
  };
}
