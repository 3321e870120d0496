// Opens what the training service runs on from its configuration: the store (migrated), the bus
// (JetStream when NATS_URL is set, else in-process) with its event streams declared, and the
// clients of the registry, datasets and quantization services.
import { connectJetStreamBus, InProcessBroker, type EventBus } from '@lathe/bus';
import type { ConfigOf } from '@lathe/service-kit';
import { connectDownstream, type DownstreamClients } from './clients/downstream-clients.js';
import type { trainingRuntimeEnvSchema } from './config.js';
import { trainingEvents } from './events/training-events.js';
import type { JobStore } from './store/job-store.js';
import type { TrainingServiceInputs } from './training-runtime.js';
import { openJobStore } from './store/open-job-store.js';

/** The opened dependencies, with a way to close them. */
export interface OpenedTrainingDeps {
  readonly store: JobStore;
  readonly bus: EventBus;
  readonly clients: DownstreamClients;
  /** Closes the clients, the bus and the store. */
  close(): Promise<void>;
}

/** Opens the store, the bus and the downstream clients named by `config`. */
export async function openTrainingDeps(
  config: ConfigOf<typeof trainingRuntimeEnvSchema>,
): Promise<OpenedTrainingDeps> {
  const opened = await openJobStore(config.storeUrl);
  let bus: EventBus | undefined;
  try {
    bus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'lathe-training' });
    await bus.declareEvents(trainingEvents);
  } catch (error) {
    await bus?.close().catch(() => undefined);
    await opened.close();
    throw error;
  }
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
    close: async () => {
      clients.close();
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
  };
}
