/** The datasets service's descriptor, roles and request rules, for tooling and tests. */
export { createDatasetsService, datasetHandlers, datasetRoles, datasetRules } from './server.js';
export {
  DATASETS_DEFAULT_PORT,
  DATASETS_SERVICE,
  datasetsEnvSchema,
  datasetsStorageEnvSchema,
} from './config.js';
export { openDatasetsDeps } from './open-datasets-deps.js';
export type { OpenedDatasetsDeps } from './open-datasets-deps.js';
export type { DatasetsDeps } from './app/datasets-deps.js';
export { DatasetsStreamClient } from './client/datasets-stream-client.js';
