/** The preferences service's descriptor, roles and request rules, for tooling and tests. */
export { preferencesService, preferenceRoles, preferenceRules } from './server.js';
export { PREFERENCES_DEFAULT_PORT, PREFERENCES_SERVICE, preferencesEnvSchema } from './config.js';
