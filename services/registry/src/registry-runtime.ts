import { resolve } from 'node:path';
import { LocalArtifactStore, NatsArtifactStore, type ArtifactStore } from '@lathe/artifacts';
import { InProcessBroker, connectJetStreamBus, type EventBus } from '@lathe/bus';
import { loadMigrations, openStore, packageMigrationsDir, parseStoreBackend } from '@lathe/store';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from './domain/registry.js';
import { REGISTRY_EVENTS, RegistryEvents } from './events/registry-events.js';
import { RegistryStore } from './store/registry-store.js';

/** Where the registry keeps its metadata, blobs and events. */
export interface RegistryRuntimeConfig {
  /** `postgres://...`, `pglite:memory` or `pglite:<dir>`. */
  readonly storeUrl: string;
  /** `nats` for the Object Store on `natsUrl`, else a local directory. */
  readonly artifacts: string;
  /** NATS with JetStream; undefined: in-process events (and no `nats` artifacts). */
  readonly natsUrl: string | undefined;
  readonly workDir: string;
  readonly importRoots: readonly string[];
  /** Reports events that failed to publish after their version was committed. */
  readonly onPublishError?: (error: unknown) => void;
}

/** An opened registry and what closes it. */
export interface RegistryRuntime {
  readonly registry: Registry;
  readonly artifacts: ArtifactStore;
  readonly bus: EventBus;
  close(): Promise<void>;
}

/** Opens the store (migrated), the artifact store and the bus, and builds the registry on them. */
export async function openRegistryRuntime(config: RegistryRuntimeConfig): Promise<RegistryRuntime> {
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const { client } = await openStore({
      backend: parseStoreBackend(config.storeUrl),
      schema: 'registry',
      migrations: await loadMigrations(packageMigrationsDir(import.meta.url)),
      applicationName: 'lathe-registry',
    });
    closers.push(() => client.close());
    let nats: NatsConnection | undefined;
    if (config.natsUrl !== undefined) {
      const nc = await connect({ servers: config.natsUrl, name: 'registry-artifacts' });
      nats = nc;
      closers.push(() => nc.drain());
    }
    let artifacts: ArtifactStore;
    if (config.artifacts === 'nats') {
      if (nats === undefined) throw new Error('LATHE_REGISTRY_ARTIFACTS=nats needs NATS_URL');
      artifacts = await NatsArtifactStore.open({ connection: nats, namespace: 'registry' });
    } else {
      artifacts = new LocalArtifactStore({
        root: resolve(config.artifacts),
        namespace: 'registry',
      });
    }
    const bus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'registry' });
    closers.push(() => bus.close());
    await bus.declareEvents(REGISTRY_EVENTS);
    const registry = new Registry({
      store: new RegistryStore(client),
      artifacts,
      events: new RegistryEvents(bus),
      workDir: resolve(config.workDir),
      importRoots: config.importRoots.map((r) => resolve(r)),
      ...(config.onPublishError === undefined ? {} : { onPublishError: config.onPublishError }),
    });
    return { registry, artifacts, bus, close };
  } catch (error) {
    await close();
    throw error;
  }
}
