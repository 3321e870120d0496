/**
 * @lathe/service-kit: start and call Lathe gRPC services with one error model, configuration
 * from the environment, structured logs, authentication and graceful shutdown.
 */
export { LatheError, isLatheError, reasonName, codeName } from './errors/lathe-error.js';
export type {
  FieldViolation,
  PreconditionViolation,
  LatheErrorDetails,
  LatheErrorOptions,
} from './errors/lathe-error.js';
export {
  STATUS_DETAILS_KEY,
  encodeStatusDetails,
  decodeStatusDetails,
  fromServiceError,
  toServiceError,
} from './errors/status-details.js';
export { ConfigError, env, readEnv, requireConfig } from './config/env-schema.js';
export type { ConfigOf, EnvSchema, EnvVar, Environment } from './config/env-schema.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  LOG_LEVELS,
  readServiceSettings,
  serviceEnvSchema,
} from './config/service-config.js';
export type {
  AuthSettings,
  JwtKeySource,
  LogLevel,
  ServiceEnv,
  ServiceSettings,
  TlsSettings,
} from './config/service-config.js';
export { Logger } from './log/logger.js';
export type { LogFields, LogSink } from './log/logger.js';
export { bearerToken, createJwtVerifier } from './auth/jwt-verifier.js';
export type { Principal, TokenVerifier } from './auth/jwt-verifier.js';
export { authorize } from './auth/method-roles.js';
export type { MethodRoles } from './auth/method-roles.js';
export { serverCredentials } from './auth/server-credentials.js';
export type {
  BidiStreamHandler,
  CallContext,
  ClientStreamHandler,
  HandlerFor,
  MethodShape,
  RequestRules,
  ServerStreamHandler,
  ServiceHandlers,
  UnaryHandler,
} from './server/handler-types.js';
export { DeadlineExceededError } from './server/call-signal.js';
export { adaptHandlers } from './server/adapt-handlers.js';
export { findProtoDir, reflectionFor } from './server/reflection.js';
export { startService } from './server/start-service.js';
export type {
  ListeningFields,
  RunningService,
  ServeOptions,
  ServiceDescriptor,
} from './server/start-service.js';
export { EXIT_CONFIG, EXIT_START_FAILED } from './server/service-life.js';
export type { ServiceIdentity } from './server/service-life.js';
export { runAssembledServiceMain, startAssembledService } from './server/assembled-service.js';
export type {
  AssembleService,
  AssembledService,
  ReleaseOnExit,
} from './server/assembled-service.js';
export { createClient } from './client/create-client.js';
export type {
  CallOptions,
  ClientOptions,
  LatheClient,
  UnaryMethods,
} from './client/create-client.js';
export { backoffDelay, DEFAULT_BACKOFF } from './client/backoff.js';
export type { BackoffPolicy } from './client/backoff.js';
export {
  RESOURCE_NAME,
  RequestValidator,
  validateRequest,
} from './validation/request-validator.js';
