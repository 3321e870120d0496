import { connectJetStreamBus, InProcessBroker } from '@lathe/bus';
import type { EventBus } from '@lathe/bus';
import type { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import {
  readEnv,
  readServiceSettings,
  requireConfig,
  startAssembledService,
} from '@lathe/service-kit';
import type { AssembleService, Environment, Logger, TokenVerifier } from '@lathe/service-kit';
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

/** What the assembly opened, for tests that read the store or drain the relay. */
export interface OpenedPreferences {
  db: SqlClient | undefined;
  relay: OutboxRelay | undefined;
  webPort: number | undefined;
}

/**
 * How the kit assembles the preferences service (what `main.ts` runs through
 * runAssembledServiceMain): its own configuration, the store and the bus opened before listening,
 * the handlers built on them, a verifier that also accepts its annotator tokens (the kit's
 * custom-verifier hook), a larger receive limit, and the web page started once gRPC listens (its
 * port joins the `listening` line). Everything opened is handed to the kit to release after the
 * drain, or at once if the start fails. What it opened is also written to `opened`.
 */
export function assemblePreferences(
  environment: Environment,
  opened: OpenedPreferences = { db: undefined, relay: undefined, webPort: undefined },
): AssembleService<Definition> {
  return async (settings, log, releaseOnExit) => {
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
    releaseOnExit(() => db.close());
    const bus: EventBus =
      config.natsUrl === undefined
        ? new InProcessBroker().connect()
        : await connectJetStreamBus({ servers: config.natsUrl, name: 'preferences' });
    releaseOnExit(() => bus.close());
    await bus.declareEvents(Object.values(PREFERENCE_EVENTS));
    const relay = new OutboxRelay(db, bus, log);
    releaseOnExit(() => relay.stop());
    const datasets =
      config.datasetsAddress === undefined
        ? undefined
        : datasetsWriter(config.datasetsAddress, config.datasetsToken);
    if (datasets !== undefined) releaseOnExit(() => datasets.close());
    // One limiter for gRPC and the page: an annotator's budget is the same through both doors.
    const limiter = new RateLimiter(config.ratePerSecond, config.rateBurst);
    const adminSecretSha256 =
      config.adminToken === undefined ? undefined : hashTokenSecret(config.adminToken);
    const verifierWith = (jwt: TokenVerifier | undefined): TokenVerifier =>
      createPreferencesVerifier({ store: db, jwt, adminSecretSha256, limiter });
    // The kit hands over its JWT verifier (LATHE_AUTH_MODE=jwt) through the hook below.
    let verifier = verifierWith(undefined);
    let web: Awaited<ReturnType<typeof startWebPage>> | undefined;
    // Released first: the page stops before the relay, bus and store it serves from.
    releaseOnExit(() => web?.close());
    Object.assign(opened, { db, relay });
    return {
      descriptor: preferencesDescriptor(preferenceHandlers({ db, relay, datasets })),
      verifier: (jwt) => (verifier = verifierWith(jwt)),
      maxReceiveBytes: config.maxRequestBytes,
      afterListen: async () => {
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
    };
  };
}

/**
 * Starts the service in this process through the kit's startAssembledService with
 * {@link assemblePreferences} (tests use it; `main.ts` goes through runAssembledServiceMain).
 * Throws the kit's ConfigError naming a bad variable.
 */
export async function startPreferences(
  environment: Environment,
  log: Logger,
): Promise<RunningPreferences> {
  const settings = readServiceSettings(PREFERENCES_SERVICE, PREFERENCES_DEFAULT_PORT, environment);
  const opened: OpenedPreferences = { db: undefined, relay: undefined, webPort: undefined };
  const running = await startAssembledService(
    settings,
    log,
    assemblePreferences(environment, opened),
  );
  if (opened.db === undefined || opened.relay === undefined || opened.webPort === undefined)
    throw new Error('the preferences assembly did not run');
  return {
    port: running.port,
    webPort: opened.webPort,
    db: opened.db,
    relay: opened.relay,
    shutdown: (graceMs) => running.shutdown(graceMs),
  };
}
