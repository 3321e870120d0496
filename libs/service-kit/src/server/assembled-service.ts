// How every service process runs: its handlers are built over what its main opens (a store, a
// bus, clients of other services), and the kit opens, starts, drains and releases in one place,
// so each main.ts only says what to open and how the service is assembled over it.
import type { Environment } from '../config/env-schema.js';
import type { ServiceSettings } from '../config/service-config.js';
import type { Logger } from '../log/logger.js';
import type { MethodShape } from './handler-types.js';
import { runServiceLife } from './service-life.js';
import type { ServiceIdentity } from './service-life.js';
import { startService } from './start-service.js';
import type { RunningService, ServeOptions, ServiceDescriptor } from './start-service.js';

/**
 * A service assembled over what its main opened: the descriptor to serve (its handlers built on
 * what was opened), how its server differs from the kit's defaults (a custom verifier, a larger
 * receive limit, `afterListen` for background work or a second listener), and what to stop
 * before the drain.
 */
export interface AssembledService<
  D extends Readonly<Record<string, MethodShape>>,
> extends ServeOptions {
  /** Served by the kit (name and default port as in the identity given to the kit). */
  readonly descriptor: ServiceDescriptor<D>;
  /**
   * Runs when the drain begins (SIGTERM, SIGINT): ends long-lived streams and background work,
   * so watching clients reconnect to another replica at once instead of waiting out the grace.
   */
  readonly beforeDrain?: () => void;
}

/** Hands the kit a way to release something just opened; releases run last-opened first. */
export type ReleaseOnExit = (release: () => Promise<void> | void) => void;

/**
 * Opens what the service runs on and assembles it (reading the service's own variables: a
 * `ConfigError` is the one-line exit 78). Everything opened is handed to `releaseOnExit` at
 * once, so a later failure, in here or in the start, releases it.
 */
export type AssembleService<D extends Readonly<Record<string, MethodShape>>> = (
  settings: ServiceSettings,
  log: Logger,
  releaseOnExit: ReleaseOnExit,
) => Promise<AssembledService<D>>;

/**
 * Assembles the service and starts it with the kit's `startService` (tests run a service in
 * process with it). If anything fails, `afterListen` included, what was opened is released and
 * the error thrown; once started, `shutdown` runs `beforeDrain`, drains, then releases. A release
 * that fails is logged and the others still run.
 */
export async function startAssembledService<D extends Readonly<Record<string, MethodShape>>>(
  settings: ServiceSettings,
  log: Logger,
  assemble: AssembleService<D>,
): Promise<RunningService> {
  const releases: Array<() => Promise<void> | void> = [];
  const releaseAll = async (): Promise<void> => {
    for (const release of releases.splice(0).reverse()) {
      try {
        await release();
      } catch (error) {
        log.warn('release failed', {
          error: error instanceof Error ? error : new Error(String(error)),
        });
      }
    }
  };
  let running: RunningService;
  let beforeDrain: (() => void) | undefined;
  try {
    const {
      descriptor,
      beforeDrain: stopBackground,
      ...serve
    } = await assemble(settings, log, (release) => releases.push(release));
    beforeDrain = stopBackground;
    running = await startService(descriptor, settings, log, serve);
  } catch (error) {
    await releaseAll();
    throw error;
  }
  return {
    port: running.port,
    fields: running.fields,
    shutdown: async (graceMs) => {
      beforeDrain?.();
      const result = await running.shutdown(graceMs);
      await releaseAll();
      return result;
    },
  };
}

/**
 * The whole life of a service process, the one way every `main.ts` runs: validates the kit's
 * settings for `identity` (a bad variable is ONE line naming it, exit 78), runs `assemble` (what
 * the service opens and serves), starts, logs `listening`, and on SIGTERM/SIGINT runs
 * `beforeDrain`, drains, releases and exits 0. If the start fails, what was opened is released
 * and the process exits (78 for a `ConfigError`, else 1 after the `start failed` log line naming
 * the service and the error) without waiting for stray handles.
 */
export async function runAssembledServiceMain<D extends Readonly<Record<string, MethodShape>>>(
  identity: ServiceIdentity,
  environment: Environment,
  assemble: AssembleService<D>,
): Promise<void> {
  const started = await runServiceLife(identity, environment, (settings, log) =>
    startAssembledService(settings, log, assemble),
  );
  if (!started) process.exit();
}
