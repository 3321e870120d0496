// Starting the training service in-process over opened dependencies: `lathe dev` runs it beside
// the trainers on one PGlite database and the in-process bus; tests run it on real servers.
import { startService, type ServiceSettings } from '@lathe/service-kit';
import { Logger } from '@lathe/service-kit';
import { TRAINING_SERVICE } from './config.js';
import {
  createTrainingRuntime,
  type TrainingRuntime,
  type TrainingServiceInputs,
} from './training-runtime.js';

/** A running training service. */
export interface RunningTrainingService {
  /** The bound port. */
  readonly port: number;
  /** The assembled service (dependencies, descriptor). */
  readonly runtime: TrainingRuntime;
  /**
   * Ends watch streams with UNAVAILABLE, stops background work, then drains calls for `graceMs`.
   * The store and bus stay open: the caller opened them and closes them.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the training service's gRPC server on `settings` (the kit's: port, auth, TLS; see
 * `readServiceSettings`) over already opened dependencies, with its outbox sweep.
 */
export async function startTrainingService(
  inputs: TrainingServiceInputs & { readonly settings: ServiceSettings },
): Promise<RunningTrainingService> {
  const log = inputs.log ?? new Logger(TRAINING_SERVICE, inputs.settings.logLevel);
  const runtime = createTrainingRuntime({ ...inputs, log });
  const server = await startService(runtime.descriptor, inputs.settings, log);
  runtime.start();
  return {
    port: server.port,
    runtime,
    stop: async (graceMs = 2000) => {
      runtime.stop();
      await server.shutdown(graceMs);
    },
  };
}
