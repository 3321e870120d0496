/** The training service: descriptor pieces, configuration, the store and in-process start-up. */
export { trainingRoles, trainingRules, createTrainingService } from './server.js';
export {
  TRAINING_DEFAULT_PORT,
  TRAINING_SERVICE,
  trainingEnvSchema,
  trainingRuntimeEnvSchema,
} from './config.js';
export { startTrainingService, type RunningTrainingService } from './start-training-service.js';
export {
  createTrainingRuntime,
  type TrainingRuntime,
  type TrainingServiceInputs,
} from './training-runtime.js';
export { openTrainingDeps, type OpenedTrainingDeps } from './open-training-deps.js';
export {
  connectDownstream,
  type DatasetCatalog,
  type DownstreamClients,
  type ModelCatalog,
  type Quantizer,
} from './clients/downstream-clients.js';
export { JobStore, StaleAttemptError, isStaleAttemptError } from './store/job-store.js';
export { openJobStore, TRAINING_SCHEMA, type OpenedJobStore } from './store/open-job-store.js';
export { startEmbeddedTraining, type EmbeddedTraining } from './embedded.js';
