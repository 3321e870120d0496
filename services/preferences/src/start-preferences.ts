import { connectJetStreamBus, InProcessBroker } from '@lathe/bus';
import type { EventBus } from '@lathe/bus';
import type { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { readEnv, readServiceSettings, requireConfig, startService } from '@lathe/service-kit';
import type { Environment, Logger, ServiceHooks, TokenVerifier } from '@lathe/service-kit';
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

type Definition = typeof PreferenceServiceService;

/** What the setup hook opened, for tests that read the store or drain the relay. */
export interface OpenedPreferences {
  db: SqlClient | undefined;
  relay: OutboxRelay | undefined;
  webPort: number | undefined;
}

/**
 * The preferences service's additions to the kit's start-up: its own configuration, the store
 * and the bus opened before listening, a verifier that also accepts its annotator tokens (the
 * kit's custom-verifier hook), a larger receive limit, the web page started once gRPC listens
 * (its port joins the `listening` line), and all of it released at shutdown.
 */
export function preferencesHooks(
  environment: Environment,
  opened: OpenedPreferences = { db: undefined, relay: undefined, webPort: undefined },
): ServiceHooks<Definition> {
  return {
    setup: async (settings, log) => {
      const config = readEnv(preferencesEnvSchema, environment);
      requireConfig(
        config.adminToken === undefined || Buffer.byteLength(config.adminToken) >= 32,
        'LATHE_PREFERENCES_ADMIN_TOKEN',
        'must be at least 32 bytes',
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
      // One limiter for gRPC and the page: an annotator's budget is the same through both doors.
      const limiter = new RateLimiter(config.ratePerSecond, config.rateBurst);
      const adminSecretSha256 =
        config.adminToken === undefined ? undefined : hashTokenSecret(config.adminToken);
      const verifierWith = (jwt: TokenVerifier | undefined): TokenVerifier =>
        createPreferencesVerifier({ store: db, jwt, adminSecretSha256, limiter });
      // The kit hands over its JWT verifier (LATHE_AUTH_MODE=jwt) through the hook below.
      let verifier = verifierWith(undefined);
      const datasets =
        config.datasetsAddress === undefined
          ? undefined
          : datasetsWriter(config.datasetsAddress, config.datasetsToken);
      let web: Awaited<ReturnType<typeof startWebPage>> | undefined;
      Object.assign(opened, { db, relay });
      return {
        handlers: preferenceHandlers({ db, relay, datasets }),
        verifier: (jwt) => (verifier = verifierWith(jwt)),
        maxReceiveBytes: config.maxRequestBytes,
        started: async () => {
          const webHost = config.webHost ?? settings.host;
          web = await startWebPage({
            db,
            relay,
            // The same verifier as gRPC (with LATHE_AUTH_MODE=none, gRPC is open but the page
            // still signs in with annotator tokens).
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
          opened.webPort = web.port;
          return { webPort: web.port };
        },
        close: async () => {
          await web?.close();
          datasets?.close();
          await relay.stop();
          await bus.close();
          await db.close();
        },
      };
    },
  };
}

/**
 * Starts the service in this process through the kit's startService with
 * {@link preferencesHooks} (tests use it; `main.ts` goes through runServiceMain). Throws the
 * kit's ConfigError naming a bad variable.
 */
export async function startPreferences(
  environment: Environment,
  log: Logger,
): Promise<RunningPreferences> {
  const settings = readServiceSettings(PREFERENCES_SERVICE, PREFERENCES_DEFAULT_PORT, environment);
  const opened: OpenedPreferences = { db: undefined, relay: undefined, webPort: undefined };
  const running = await startService(
    preferencesDescriptor({}),
    settings,
    log,
    preferencesHooks(environment, opened),
  );
  if (opened.db === undefined || opened.relay === undefined || opened.webPort === undefined)
    throw new Error('the preferences setup hook did not run');
  return {
    port: running.port,
    webPort: opened.webPort,
    db: opened.db,
    relay: opened.relay,
    shutdown: (graceMs) => running.shutdown(graceMs),
  };
}
