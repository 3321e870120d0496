// Entry point of the quantization service: the only module that reads the environment and listens.
// The kit runs the life cycle (settings, start, drain, release); this module says what the
// service is assembled over: its store, bus, the registry's artifacts and the registry client.
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalArtifactStore, NatsArtifactStore, type ArtifactStore } from '@lathe/artifacts';
import { InProcessBroker, connectJetStreamBus } from '@lathe/bus';
import { ConfigError, readEnv, runAssembledServiceMain } from '@lathe/service-kit';
import { parseStoreBackend } from '@lathe/store';
import { connect } from '@nats-io/transport-node';
import { RegistryClient } from './clients/registry.js';
import {
  QUANTIZATION_DEFAULT_PORT,
  QUANTIZATION_SERVICE,
  quantizationStorageEnvSchema,
} from './config.js';
import { startQuantizationService } from './start-quantization-service.js';
import { openQuantizationStore } from './store/quantization-store.js';

await runAssembledServiceMain(
  { name: QUANTIZATION_SERVICE, defaultPort: QUANTIZATION_DEFAULT_PORT },
  process.env,
  async (_settings, log, releaseOnExit) => {
    const config = readEnv(quantizationStorageEnvSchema, process.env);
    const sql = await openQuantizationStore(parseStoreBackend(config.storeUrl));
    releaseOnExit(() => sql.close());
    const bus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: QUANTIZATION_SERVICE });
    releaseOnExit(() => bus.close());
    let artifacts: ArtifactStore;
    if (config.registryArtifacts === 'nats') {
      if (config.natsUrl === undefined)
        throw new ConfigError('LATHE_QUANTIZATION_REGISTRY_ARTIFACTS', '"nats" needs NATS_URL');
      const nc = await connect({ servers: config.natsUrl, name: 'quantization-artifacts' });
      releaseOnExit(() => nc.drain());
      artifacts = await NatsArtifactStore.open({ connection: nc, namespace: 'registry' });
    } else {
      artifacts = new LocalArtifactStore({
        root: resolve(config.registryArtifacts),
        namespace: 'registry',
      });
    }
    const registry = new RegistryClient(config.registryAddr, { token: config.registryToken });
    releaseOnExit(() => registry.close());
    const instance = await startQuantizationService({
      sql,
      bus,
      registry,
      artifacts,
      scratchDir: resolve(config.scratchDir ?? join(tmpdir(), 'lathe-quantization')),
      concurrency: config.concurrency,
      leaseMs: config.leaseMs,
      ...(config.replicaId === undefined ? {} : { replicaId: config.replicaId }),
      log,
    });
    // Running jobs are interrupted (they stay RUNNING and are taken back at the next start)
    // before the store and the bus they write to close.
    releaseOnExit(() => instance.stop());
    return { descriptor: instance.descriptor };
  },
);
