/** The registry service's descriptor, roles and request rules, for tooling and tests. */
export { registryService, registryRoles, registryRules } from './server.js';
export { REGISTRY_DEFAULT_PORT, REGISTRY_SERVICE, registryEnvSchema } from './config.js';
