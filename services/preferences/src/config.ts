import { env, serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_PREFERENCES_*`, the error domain `lathe.preferences`. */
export const PREFERENCES_SERVICE = 'preferences';

/** Port when neither LATHE_PREFERENCES_PORT nor LATHE_GRPC_PORT is set. */
export const PREFERENCES_DEFAULT_PORT = 50062;

/** Port of the annotators' web page when LATHE_PREFERENCES_WEB_PORT is unset. */
export const PREFERENCES_DEFAULT_WEB_PORT = 8062;

/**
 * Environment variables of the preferences service, validated once at start: the kit's common
 * set plus storage, events, the web page, the bootstrap admin token and per-annotator rate limits.
 */
export const preferencesEnvSchema = {
  ...serviceEnvSchema(PREFERENCES_SERVICE, PREFERENCES_DEFAULT_PORT),
  storeUrl: env.string(
    'LATHE_PREFERENCES_STORE_URL',
    'metadata store: postgres://... (schema "preferences"), pglite:memory or pglite:<dir>',
    'pglite:memory',
  ),
  storeConnections: env.integer(
    'LATHE_PREFERENCES_STORE_CONNECTIONS',
    'PostgreSQL connections in the pool',
    { min: 1, max: 1000 },
    20,
  ),
  natsUrl: env.optionalString(
    'NATS_URL',
    'NATS JetStream server for events; unset: an in-process bus (embedded mode)',
  ),
  webHost: env.optionalString(
    'LATHE_PREFERENCES_WEB_HOST',
    'address of the annotators web page; unset: the gRPC address (LATHE_GRPC_HOST)',
  ),
  webPort: env.port(
    'LATHE_PREFERENCES_WEB_PORT',
    'port of the annotators web page; 0 picks a free one',
    PREFERENCES_DEFAULT_WEB_PORT,
  ),
  adminToken: env.optionalString(
    'LATHE_PREFERENCES_ADMIN_TOKEN',
    'bootstrap admin bearer secret (at least 32 bytes), for issuing the first annotator tokens without a JWT issuer',
  ),
  ratePerSecond: env.integer(
    'LATHE_PREFERENCES_RATE_PER_SECOND',
    'sustained calls per second allowed to one annotator token',
    { min: 1, max: 1_000_000 },
    20,
  ),
  rateBurst: env.integer(
    'LATHE_PREFERENCES_RATE_BURST',
    'calls one annotator may make at once before the sustained rate applies',
    { min: 1, max: 1_000_000 },
    40,
  ),
  maxRequestBytes: env.integer(
    'LATHE_PREFERENCES_MAX_RECEIVE_BYTES',
    'largest request message; above the field limits so that oversized fields get INVALID_ARGUMENT naming the field',
    { min: 1024, max: 2 ** 31 - 1 },
    16 * 1024 * 1024,
  ),
  datasetsAddress: env.optionalString(
    'LATHE_PREFERENCES_DATASETS_ADDRESS',
    'host:port of the datasets service, for SnapshotToDataset; unset: snapshots fail FAILED_PRECONDITION',
  ),
  datasetsToken: env.optionalString(
    'LATHE_PREFERENCES_DATASETS_TOKEN',
    'bearer JWT with the dataset-editor role sent to the datasets service',
  ),
};
