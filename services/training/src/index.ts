/** The training service's descriptor, roles and request rules, for tooling and tests. */
export { trainingService, trainingRoles, trainingRules } from './server.js';
export { TRAINING_DEFAULT_PORT, TRAINING_SERVICE, trainingEnvSchema } from './config.js';
