// Entry point of the training service: the only module that reads the environment and listens.
// The kit runs the life cycle (settings, start, drain, release); this module says what the
// service is assembled over: its store, bus and downstream clients.
import { readEnv, runAssembledServiceMain } from '@lathe/service-kit';
import { TRAINING_DEFAULT_PORT, TRAINING_SERVICE, trainingRuntimeEnvSchema } from './config.js';
import { openTrainingDeps, trainingInputs } from './open-training-deps.js';
import { createTrainingRuntime } from './training-runtime.js';

await runAssembledServiceMain(
  { name: TRAINING_SERVICE, defaultPort: TRAINING_DEFAULT_PORT },
  process.env,
  async (_settings, log, releaseOnExit) => {
    const config = readEnv(trainingRuntimeEnvSchema, process.env);
    const deps = await openTrainingDeps(config);
    releaseOnExit(() => deps.close());
    const runtime = createTrainingRuntime({ ...trainingInputs(config, deps), log });
    return {
      descriptor: runtime.descriptor,
      afterListen: () => runtime.start(),
      // Watch streams end first (UNAVAILABLE), so clients reconnect to another replica at once
      // instead of waiting out the grace period.
      beforeDrain: () => runtime.stop(),
    };
  },
);
