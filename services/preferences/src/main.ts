// Entry point of the preferences service: the only module that reads the environment and listens.
import {
  ConfigError,
  EXIT_CONFIG,
  EXIT_START_FAILED,
  LOG_LEVELS,
  Logger,
} from '@lathe/service-kit';
import type { LogLevel } from '@lathe/service-kit';
import { PREFERENCES_SERVICE } from './config.js';
import { startPreferences } from './start-preferences.js';
import type { RunningPreferences } from './start-preferences.js';

// The same life cycle as the kit's runServiceMain (one-line config errors with exit 78, drain on
// SIGTERM, exit 0), which cannot be used as is: it starts the kit's server, without our verifier.
const level = LOG_LEVELS.find((l) => l === process.env['LOG_LEVEL']) ?? ('info' satisfies LogLevel);
const log = new Logger(PREFERENCES_SERVICE, level);
const grace = Number(process.env['LATHE_SHUTDOWN_GRACE_MS'] ?? '10000');
let running: RunningPreferences | undefined;
try {
  running = await startPreferences(process.env, log);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${PREFERENCES_SERVICE}: ${error.message}\n`);
    process.exitCode = EXIT_CONFIG;
  } else {
    log.error('start failed', { error: error instanceof Error ? error : new Error(String(error)) });
    process.exitCode = EXIT_START_FAILED;
  }
}
if (running !== undefined) {
  const service = running;
  if (process.env['LATHE_AUTH_MODE'] === 'none')
    log.warn('authentication is OFF (LATHE_AUTH_MODE=none): every caller has every role');
  log.info('listening', { port: service.port, webPort: service.webPort });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    void service.shutdown(Number.isFinite(grace) ? grace : 10_000).then(({ forced }) => {
      if (forced) log.warn('grace period over: remaining calls were cancelled');
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
