// Entry point of the datasets service: the only module that reads the environment and listens.
import {
  ConfigError,
  EXIT_CONFIG,
  EXIT_START_FAILED,
  readEnv,
  readServiceSettings,
  runServiceMain,
} from '@lathe/service-kit';
import { DATASETS_DEFAULT_PORT, DATASETS_SERVICE, datasetsStorageEnvSchema } from './config.js';
import { openDatasetsDeps } from './open-datasets-deps.js';
import { createDatasetsService } from './server.js';

let storage;
try {
  // The kit's settings are checked first, so a bad variable fails in one line before any
  // connection is opened.
  readServiceSettings(DATASETS_SERVICE, DATASETS_DEFAULT_PORT, process.env);
  storage = readEnv(datasetsStorageEnvSchema, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${DATASETS_SERVICE}: ${error.message}\n`);
  process.exit(EXIT_CONFIG);
}
let deps;
try {
  deps = await openDatasetsDeps(storage);
} catch (error) {
  process.stderr.write(
    `${DATASETS_SERVICE}: cannot open storage: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(EXIT_START_FAILED);
}
await runServiceMain(createDatasetsService(deps), process.env);
if (process.exitCode !== undefined && process.exitCode !== 0) {
  // Start-up failed after storage opened: release it so the process can exit.
  await deps.close();
  process.exit();
}
