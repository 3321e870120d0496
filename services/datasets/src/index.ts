/** The datasets service's descriptor, roles and request rules, for tooling and tests. */
export { datasetsService, datasetRoles, datasetRules } from './server.js';
export { DATASETS_DEFAULT_PORT, DATASETS_SERVICE, datasetsEnvSchema } from './config.js';
