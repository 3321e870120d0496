// Entry point of the registry service: the only module that reads the environment and listens.
import {
  ConfigError,
  EXIT_CONFIG,
  readEnv,
  readServiceSettings,
  runServiceMain,
} from '@lathe/service-kit';
import { REGISTRY_DEFAULT_PORT, REGISTRY_SERVICE, registryStorageEnvSchema } from './config.js';
import { openRegistryRuntime } from './registry-runtime.js';
import { registryService } from './server.js';

let storage;
try {
  // The kit's variables first, so a bad one stops the process before any store is opened.
  readServiceSettings(REGISTRY_SERVICE, REGISTRY_DEFAULT_PORT, process.env);
  storage = readEnv(registryStorageEnvSchema, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`registry: ${error.message}\n`);
  process.exit(EXIT_CONFIG);
}
const runtime = await openRegistryRuntime({
  ...storage,
  onPublishError: (error) => {
    process.stderr.write(`registry: event not published: ${String(error)}\n`);
  },
});
await runServiceMain(registryService(runtime.registry), process.env);
