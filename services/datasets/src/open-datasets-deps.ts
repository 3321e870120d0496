import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactStore } from '@lathe/artifacts';
import { LocalArtifactStore, NatsArtifactStore } from '@lathe/artifacts';
import type { EventBus } from '@lathe/bus';
import { connectJetStreamBus, InProcessBroker } from '@lathe/bus';
import type { ConfigOf } from '@lathe/service-kit';
import { loadMigrations, openStore, parseStoreBackend } from '@lathe/store';
import type { SqlClient } from '@lathe/store';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DatasetsDeps } from './app/datasets-deps.js';
import { RegistryTokenizers } from './clients/registry-tokenizers.js';
import type { datasetsStorageEnvSchema } from './config.js';
import { datasetEvents } from './events/dataset-events.js';
import { DatasetsStore } from './store/datasets-store.js';

/** The service's dependencies, opened, with a way to close them. */
export interface OpenedDatasetsDeps extends DatasetsDeps {
  /** Closes the bus, the artifact connection and the store. */
  close(): Promise<void>;
}

/** The service's migrations directory (next to `src/`, also from `dist/src/`). */
export function migrationsDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes(`${'/dist/'}`)
    ? resolve(here, '../../migrations')
    : resolve(here, '../migrations');
}

/**
 * Opens the schema (migrating it), the bus (JetStream when NATS_URL is set, else in-process, with
 * the service's event streams declared) and the artifact namespace `datasets`. A failure closes
 * what was opened and throws `cannot open storage: <reason>`.
 */
export async function openDatasetsDeps(
  config: ConfigOf<typeof datasetsStorageEnvSchema>,
): Promise<OpenedDatasetsDeps> {
  const opened: { close(): Promise<void> }[] = [];
  try {
    const { client } = await openStore({
      backend: parseStoreBackend(config.storeUrl),
      schema: 'datasets',
      migrations: await loadMigrations(migrationsDir()),
      applicationName: 'lathe-datasets',
    });
    const sql: SqlClient = client;
    opened.push({ close: () => sql.close() });
    const bus: EventBus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'lathe-datasets' });
    opened.push(bus);
    await bus.declareEvents(datasetEvents);
    let artifacts: ArtifactStore;
    if (config.artifactStore === 'nats') {
      if (config.natsUrl === undefined)
        throw new Error('LATHE_DATASETS_ARTIFACT_STORE=nats needs NATS_URL');
      const nc: NatsConnection = await connect({
        servers: config.natsUrl,
        name: 'lathe-datasets-artifacts',
      });
      opened.push({ close: () => nc.close() });
      artifacts = await NatsArtifactStore.open({ connection: nc, namespace: 'datasets' });
    } else if (config.artifactStore === 'local') {
      artifacts = new LocalArtifactStore({ root: config.artifactDir, namespace: 'datasets' });
    } else {
      throw new Error(
        `LATHE_DATASETS_ARTIFACT_STORE must be "local" or "nats", got "${config.artifactStore}"`,
      );
    }
    const tokenizers =
      config.registryAddr === undefined
        ? undefined
        : new RegistryTokenizers(config.registryAddr, config.registryToken);
    if (tokenizers !== undefined)
      opened.push({
        close: () => {
          tokenizers.close();
          return Promise.resolve();
        },
      });
    return {
      store: new DatasetsStore(sql),
      artifacts,
      bus,
      ...(tokenizers === undefined ? {} : { tokenizers }),
      curationMemoryBytes: config.curationMemoryMib * 1024 * 1024,
      close: async () => {
        for (const o of opened.reverse()) await o.close();
      },
    };
  } catch (error) {
    for (const o of opened.reverse()) await o.close().catch(() => undefined);
    // The kit's `start failed` line shows this message: it says what could not be opened.
    throw new Error(
      `cannot open storage: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
