import { Server } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { connectJetStreamBus, InProcessBroker } from '@lathe/bus';
import type { EventBus } from '@lathe/bus';
import {
  adaptHandlers,
  createJwtVerifier,
  findProtoDir,
  readEnv,
  readServiceSettings,
  reflectionFor,
  requireConfig,
  serverCredentials,
} from '@lathe/service-kit';
import type { Environment, Logger } from '@lathe/service-kit';
import { loadMigrations, openStore, packageMigrationsDir, parseStoreBackend } from '@lathe/store';
import type { SqlClient } from '@lathe/store';
import { createPreferencesVerifier } from './auth/preferences-verifier.js';
import { hashTokenSecret } from './auth/token-secret.js';
import { PREFERENCES_DEFAULT_PORT, PREFERENCES_SERVICE, preferencesEnvSchema } from './config.js';
import { RateLimiter } from './domain/rate-limiter.js';
import { PREFERENCE_EVENTS } from './events/preference-events.js';
import { OutboxRelay } from './events/outbox.js';
import { preferenceHandlers, preferencesDescriptor } from './server.js';
import { datasetsWriter } from './clients/datasets.js';
import { startWebPage } from './web/web-server.js';

/** A running preferences service. */
export interface RunningPreferences {
  /** The bound gRPC port. */
  readonly port: number;
  /** The bound port of the annotators' web page. */
  readonly webPort: number;
  /** The service's store (tests read it to check what was written). */
  readonly db: SqlClient;
  /** The event relay; `drain()` waits until committed events are published. */
  readonly relay: OutboxRelay;
  /** Graceful stop of both listeners, then the relay, bus and store. */
  shutdown(graceMs: number): Promise<{ forced: boolean }>;
}

const MIGRATIONS = packageMigrationsDir(import.meta.url);

/**
 * Validates `environment` (throws the kit's ConfigError naming a bad variable), opens the store
 * and the bus, and starts the gRPC server and the web page. Built beside the kit's startService
 * rather than on it because that one takes no token verifier: here adaptHandlers gets one that
 * accepts this service's own annotator tokens as well as JWTs.
 */
export async function startPreferences(
  environment: Environment,
  log: Logger,
): Promise<RunningPreferences> {
  const settings = readServiceSettings(PREFERENCES_SERVICE, PREFERENCES_DEFAULT_PORT, environment);
  const config = readEnv(preferencesEnvSchema, environment);
  requireConfig(
    config.adminToken === undefined || Buffer.byteLength(config.adminToken) >= 32,
    'LATHE_PREFERENCES_ADMIN_TOKEN',
    'must be at least 32 bytes',
  );
  const protoDir = settings.protoDir ?? findProtoDir();
  if (protoDir === undefined)
    throw new Error(
      'reflection for the preferences service needs the .proto files: set LATHE_PROTO_DIR',
    );

  const { client: db } = await openStore({
    backend: parseStoreBackend(config.storeUrl),
    schema: PREFERENCES_SERVICE,
    migrations: await loadMigrations(MIGRATIONS),
    applicationName: 'lathe-preferences',
    maxConnections: config.storeConnections,
  });
  let bus: EventBus;
  try {
    bus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'preferences' });
    await bus.declareEvents(Object.values(PREFERENCE_EVENTS));
  } catch (error) {
    await db.close();
    throw error;
  }
  const relay = new OutboxRelay(db, bus, log);
  const verifier = createPreferencesVerifier({
    store: db,
    jwt: settings.auth.mode === 'jwt' ? createJwtVerifier(settings.auth) : undefined,
    adminSecretSha256:
      config.adminToken === undefined ? undefined : hashTokenSecret(config.adminToken),
    limiter: new RateLimiter(config.ratePerSecond, config.rateBurst),
  });
  const datasets =
    config.datasetsAddress === undefined
      ? undefined
      : datasetsWriter(config.datasetsAddress, config.datasetsToken);
  const descriptor = preferencesDescriptor(preferenceHandlers({ db, relay, datasets }));
  const maxReceive = Math.max(settings.maxReceiveBytes, config.maxRequestBytes);
  const server = new Server({
    'grpc.max_receive_message_length': maxReceive,
    'grpc.max_send_message_length': settings.maxSendBytes,
  });
  server.addService(
    descriptor.definition,
    adaptHandlers({
      definition: descriptor.definition,
      handlers: descriptor.handlers,
      roles: descriptor.roles,
      ...(descriptor.rules === undefined ? {} : { rules: descriptor.rules }),
      // LATHE_AUTH_MODE=none: no verifier, every caller is an anonymous admin (local use only).
      verifier: settings.auth.mode === 'none' ? undefined : verifier,
      domain: `lathe.${PREFERENCES_SERVICE}`,
      log,
    }),
  );
  const health = new HealthImplementation({ '': 'SERVING', [descriptor.fullName]: 'SERVING' });
  health.addToServer(server);
  reflectionFor(descriptor.fullName, descriptor.protoFile, protoDir).addToServer(server);
  // Anything started so far is released when a listener cannot bind, so the process can exit.
  const release = async (): Promise<void> => {
    server.forceShutdown();
    datasets?.close();
    await relay.stop();
    await bus.close();
    await db.close();
  };
  let port: number;
  let web: Awaited<ReturnType<typeof startWebPage>>;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        `${settings.host}:${String(settings.port)}`,
        serverCredentials(settings.tls),
        (error, bound) => {
          if (error === null) resolve(bound);
          else
            reject(
              new Error(
                `cannot listen on ${settings.host}:${String(settings.port)}: ${error.message}`,
                { cause: error },
              ),
            );
        },
      );
    });
    const webHost = config.webHost ?? settings.host;
    web = await startWebPage({
      db,
      relay,
      verifier,
      host: webHost,
      port: config.webPort,
      log,
    }).catch((error: unknown) => {
      throw new Error(
        `cannot listen on ${webHost}:${String(config.webPort)} for the web page (LATHE_PREFERENCES_WEB_PORT): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    });
  } catch (error) {
    await release();
    throw error;
  }
  return {
    port,
    webPort: web.port,
    db,
    relay,
    shutdown: async (graceMs) => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(descriptor.fullName, 'NOT_SERVING');
      const forced = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve(true);
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      await web.close();
      datasets?.close();
      await relay.stop();
      await bus.close();
      await db.close();
      return { forced };
    },
  };
}
