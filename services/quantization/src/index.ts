/** The quantization service's descriptor, roles and request rules, for tooling and tests. */
export { quantizationService, quantizationRoles, quantizationRules } from './server.js';
export {
  QUANTIZATION_DEFAULT_PORT,
  QUANTIZATION_SERVICE,
  quantizationEnvSchema,
} from './config.js';
