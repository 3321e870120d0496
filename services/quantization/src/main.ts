// Entry point of the quantization service: the only module that reads the environment and listens.
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalArtifactStore, NatsArtifactStore, type ArtifactStore } from '@lathe/artifacts';
import { InProcessBroker, connectJetStreamBus } from '@lathe/bus';
import {
  ConfigError,
  EXIT_CONFIG,
  EXIT_START_FAILED,
  Logger,
  readEnv,
  readServiceSettings,
  runServiceMain,
} from '@lathe/service-kit';
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

let config;
let settings;
try {
  // The kit's variables first, so a bad one stops the process before anything is opened.
  settings = readServiceSettings(QUANTIZATION_SERVICE, QUANTIZATION_DEFAULT_PORT, process.env);
  config = readEnv(quantizationStorageEnvSchema, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${QUANTIZATION_SERVICE}: ${error.message}\n`);
  process.exit(EXIT_CONFIG);
}

const closers: Array<() => Promise<void>> = [];
let instance;
try {
  const sql = await openQuantizationStore(parseStoreBackend(config.storeUrl));
  closers.push(() => sql.close());
  const bus =
    config.natsUrl === undefined
      ? new InProcessBroker().connect()
      : await connectJetStreamBus({ servers: config.natsUrl, name: QUANTIZATION_SERVICE });
  closers.push(() => bus.close());
  let artifacts: ArtifactStore;
  if (config.registryArtifacts === 'nats') {
    if (config.natsUrl === undefined)
      throw new ConfigError('LATHE_QUANTIZATION_REGISTRY_ARTIFACTS', '"nats" needs NATS_URL');
    const nc = await connect({ servers: config.natsUrl, name: 'quantization-artifacts' });
    closers.push(() => nc.drain());
    artifacts = await NatsArtifactStore.open({ connection: nc, namespace: 'registry' });
  } else {
    artifacts = new LocalArtifactStore({
      root: resolve(config.registryArtifacts),
      namespace: 'registry',
    });
  }
  const registry = new RegistryClient(config.registryAddr, { token: config.registryToken });
  closers.push(() => Promise.resolve(registry.close()));
  instance = await startQuantizationService({
    sql,
    bus,
    registry,
    artifacts,
    scratchDir: resolve(config.scratchDir ?? join(tmpdir(), 'lathe-quantization')),
    concurrency: config.concurrency,
    leaseMs: config.leaseMs,
    ...(config.replicaId === undefined ? {} : { replicaId: config.replicaId }),
    log: new Logger(QUANTIZATION_SERVICE, settings.logLevel),
  });
} catch (error) {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  process.stderr.write(
    `${QUANTIZATION_SERVICE}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(error instanceof ConfigError ? EXIT_CONFIG : EXIT_START_FAILED);
}
await runServiceMain(instance.descriptor, process.env);
if (process.exitCode !== undefined && process.exitCode !== 0) {
  // Start-up failed after the store opened: release what was opened so the process can exit.
  await instance.stop();
  for (const close of closers.reverse()) await close().catch(() => undefined);
  process.exit();
}
