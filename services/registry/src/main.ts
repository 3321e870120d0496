// Entry point of the registry service: the only module that reads the environment and listens.
// The kit runs the life cycle (settings, start, drain, release); this module says what the
// service is assembled over: its store, artifact store and bus.
import { readEnv, runAssembledServiceMain } from '@lathe/service-kit';
import { REGISTRY_DEFAULT_PORT, REGISTRY_SERVICE, registryStorageEnvSchema } from './config.js';
import { openRegistryRuntime } from './registry-runtime.js';
import { registryService } from './server.js';

await runAssembledServiceMain(
  { name: REGISTRY_SERVICE, defaultPort: REGISTRY_DEFAULT_PORT },
  process.env,
  async (_settings, _log, releaseOnExit) => {
    const storage = readEnv(registryStorageEnvSchema, process.env);
    const runtime = await openRegistryRuntime({
      ...storage,
      onPublishError: (error) => {
        process.stderr.write(`registry: event not published: ${String(error)}\n`);
      },
    });
    releaseOnExit(() => runtime.close());
    return { descriptor: registryService(runtime.registry) };
  },
);
