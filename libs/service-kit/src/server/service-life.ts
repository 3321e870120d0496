import { ConfigError } from '../config/env-schema.js';
import type { Environment } from '../config/env-schema.js';
import { readServiceSettings } from '../config/service-config.js';
import type { ServiceSettings } from '../config/service-config.js';
import { Logger } from '../log/logger.js';
import type { RunningService, ServiceDescriptor } from './start-service.js';

/** Exit status when configuration is invalid (EX_CONFIG in sysexits.h). */
export const EXIT_CONFIG = 78;
/** Exit status when the service fails to start for another reason. */
export const EXIT_START_FAILED = 1;

/** What the kit needs to read a service's settings: its name and default port. */
export type ServiceIdentity = Pick<ServiceDescriptor<never>, 'name' | 'defaultPort'>;

/**
 * The life of a service process around its start (`start`): validate the kit's settings from
 * `environment` (a bad variable prints ONE line naming it and sets {@link EXIT_CONFIG}), start
 * (a failure is the `start failed` log line and {@link EXIT_START_FAILED}), log `listening` with
 * the bound port, and on SIGTERM or SIGINT drain in-flight calls for `LATHE_SHUTDOWN_GRACE_MS`,
 * then exit 0. Resolves true once the service listens, false when the start failed
 * (`process.exitCode` then says how).
 */
export async function runServiceLife(
  identity: ServiceIdentity,
  environment: Environment,
  start: (settings: ServiceSettings, log: Logger) => Promise<RunningService>,
): Promise<boolean> {
  const { name } = identity;
  let settings;
  try {
    settings = readServiceSettings(name, identity.defaultPort, environment);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exitCode = EXIT_CONFIG;
      return false;
    }
    throw error;
  }
  const log = new Logger(name, settings.logLevel);
  let running;
  try {
    running = await start(settings, log);
  } catch (error) {
    // A start reads the service's own variables (while it assembles): a bad one is a
    // configuration error too.
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exitCode = EXIT_CONFIG;
      return false;
    }
    log.error('start failed', { error: error instanceof Error ? error : new Error(String(error)) });
    process.exitCode = EXIT_START_FAILED;
    return false;
  }
  if (settings.auth.mode === 'none')
    log.warn('authentication is OFF (LATHE_AUTH_MODE=none): every caller has every role');
  log.info('listening', {
    host: settings.host,
    port: running.port,
    tls: settings.tls === undefined ? 'off' : settings.tls.clientCa === undefined ? 'tls' : 'mtls',
    auth: settings.auth.mode,
    ...running.fields,
  });

  const service = running;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal, graceMs: settings.shutdownGraceMs });
    void service.shutdown(settings.shutdownGraceMs).then(({ forced }) => {
      if (forced)
        log.warn('grace period over: remaining calls were cancelled', {
          graceMs: settings.shutdownGraceMs,
        });
      log.info('stopped');
      // Exit explicitly: a stray handle (a JWKS refresh, a pool) must not keep a stopped pod alive.
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return true;
}
