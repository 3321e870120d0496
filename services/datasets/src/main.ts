// Entry point of the datasets service: the only module that reads the environment and listens.
// The kit runs the life cycle (settings, start, drain, release); this module says what the
// service is assembled over: its store, bus, artifact store and the registry's tokenizers.
import { readEnv, runAssembledServiceMain } from '@lathe/service-kit';
import { DATASETS_DEFAULT_PORT, DATASETS_SERVICE, datasetsStorageEnvSchema } from './config.js';
import { openDatasetsDeps } from './open-datasets-deps.js';
import { createDatasetsService } from './server.js';

await runAssembledServiceMain(
  { name: DATASETS_SERVICE, defaultPort: DATASETS_DEFAULT_PORT },
  process.env,
  async (_settings, _log, releaseOnExit) => {
    const deps = await openDatasetsDeps(readEnv(datasetsStorageEnvSchema, process.env));
    releaseOnExit(() => deps.close());
    return { descriptor: createDatasetsService(deps) };
  },
);
