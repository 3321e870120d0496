// The testkit's door: resolve real NATS and PostgreSQL servers for tests.
export { TestServerUnavailableError } from './errors.js';
export { isDockerReachable } from './docker.js';
export { findFreePort } from './free-port.js';
export { uniqueName } from './unique-name.js';
export {
  LocalNatsServer,
  DEFAULT_NATS_SERVER_BIN,
  type LocalNatsServerOptions,
} from './local-nats-server.js';
export {
  startNats,
  NATS_IMAGE,
  type TestNats,
  type StartNatsOptions,
  type TestServerSource,
} from './nats.js';
export {
  createTestDatabase,
  LOCAL_POSTGRES_URL,
  POSTGRES_IMAGE,
  type TestDatabase,
  type CreateTestDatabaseOptions,
} from './postgres.js';
