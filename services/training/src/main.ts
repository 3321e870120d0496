// Entry point of the training service: the only module that reads the environment and listens.
import {
  ConfigError,
  EXIT_CONFIG,
  EXIT_START_FAILED,
  Logger,
  readEnv,
  readServiceSettings,
  runServiceMain,
} from '@lathe/service-kit';
import { TRAINING_DEFAULT_PORT, TRAINING_SERVICE, trainingRuntimeEnvSchema } from './config.js';
import { openTrainingDeps, trainingInputs } from './open-training-deps.js';
import { createTrainingRuntime } from './training-runtime.js';

let config;
let settings;
try {
  // The kit's settings are checked first, so a bad variable fails in one line before any
  // connection is opened.
  settings = readServiceSettings(TRAINING_SERVICE, TRAINING_DEFAULT_PORT, process.env);
  config = readEnv(trainingRuntimeEnvSchema, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${TRAINING_SERVICE}: ${error.message}\n`);
  process.exit(EXIT_CONFIG);
}
let deps;
try {
  deps = await openTrainingDeps(config);
} catch (error) {
  process.stderr.write(
    `${TRAINING_SERVICE}: cannot open storage or the bus: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(EXIT_START_FAILED);
}
const runtime = createTrainingRuntime({
  ...trainingInputs(config, deps),
  log: new Logger(TRAINING_SERVICE, settings.logLevel),
});
// On SIGTERM/SIGINT the kit drains calls; watch streams end first (UNAVAILABLE), so clients
// reconnect to another replica at once instead of waiting out the grace period.
process.once('SIGTERM', () => runtime.stop());
process.once('SIGINT', () => runtime.stop());
await runServiceMain(runtime.descriptor, process.env);
if (process.exitCode !== undefined && process.exitCode !== 0) {
  // Start-up failed after storage opened: release it so the process can exit.
  runtime.stop();
  await deps.close();
  process.exit();
} else {
  runtime.start();
}
