/** The quantization service's composition root, descriptor parts and configuration, for hosts and tests. */
export {
  quantizationService,
  quantizationHandlers,
  quantizationRoles,
  quantizationRules,
} from './server.js';
export {
  QUANTIZATION_DEFAULT_PORT,
  QUANTIZATION_SERVICE,
  quantizationEnvSchema,
  quantizationStorageEnvSchema,
} from './config.js';
export { startQuantizationService } from './start-quantization-service.js';
export type {
  QuantizationServiceDeps,
  QuantizationServiceInstance,
} from './start-quantization-service.js';
export { QuantizationJobs } from './app/quantization-jobs.js';
export type { QuantizeRequest, Submitted } from './app/quantization-jobs.js';
export { RegistryClient } from './clients/registry.js';
export type { RegistryClientOptions, RegistryGateway } from './clients/registry.js';
export { QUANTIZATION_SCHEMA, openQuantizationStore } from './store/quantization-store.js';
export {
  QUANTIZATION_EVENTS,
  QuantizationCompletedEvent,
  QuantizationFailedEvent,
} from './events/quantization-events.js';
export { cacheKeyOf, quantConfigOf, specViolations } from './domain/quant-spec.js';
