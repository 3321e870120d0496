import { isDockerReachable } from './docker.js';
import { TestServerUnavailableError } from './errors.js';
import { LocalNatsServer, type LocalNatsServerOptions } from './local-nats-server.js';

/** Where a test server came from. */
export type TestServerSource = 'env' | 'container' | 'local';

/** The NATS image used when a Docker engine is reachable. */
export const NATS_IMAGE = 'nats:2.10-alpine';

/** A NATS server with JetStream, resolved for one test file. */
export interface TestNats {
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** How it was resolved: `NATS_URL`, a testcontainer, or a private local nats-server. */
  readonly source: TestServerSource;
  /**
   * Stops the server, keeping port and store (`SIGKILL` simulates a crash). Only for a private
   * server: ask for `{ restartable: true }`; otherwise it throws.
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts a stopped private server again on the same port and store. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Releases the server: stops a container or private server and removes its store. */
  close(): Promise<void>;
}

/** Options for {@link startNats}. */
export interface StartNatsOptions extends LocalNatsServerOptions {
  /**
   * The test will stop and restart the server (fault tests). Default false. When true the shared
   * `NATS_URL` server and containers are skipped: a private nats-server is always started.
   */
  restartable?: boolean;
  /** Environment to read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Resolves a NATS server with JetStream for tests, in this order:
 * 1. `NATS_URL` when set (a shared server: use unique stream/bucket names, see `uniqueName`);
 * 2. a `nats` testcontainer when a Docker engine answers;
 * 3. a private `nats-server -js` (`NATS_SERVER_BIN`, default `/usr/sbin/nats-server`) on a free
 *    port with a temporary store.
 * Call `close()` in `afterAll`; it also runs at process exit if a test never got there.
 */
export async function startNats(options: StartNatsOptions = {}): Promise<TestNats> {
  const env = options.env ?? process.env;
  const attempts: string[] = [];
  if (options.restartable !== true) {
    const fromEnv = env['NATS_URL'];
    if (fromEnv !== undefined && fromEnv !== '') return sharedNats(fromEnv);
    attempts.push('NATS_URL: not set');
    if (await isDockerReachable(env)) {
      try {
        return await containerNats();
      } catch (error) {
        attempts.push(`testcontainers: ${(error as Error).message}`);
      }
    } else {
      attempts.push(
        'testcontainers: no Docker engine answered (DOCKER_HOST, /var/run/docker.sock)',
      );
    }
  }
  try {
    const server = await LocalNatsServer.launch({
      ...options,
      ...(options.binary === undefined && env['NATS_SERVER_BIN'] !== undefined
        ? { binary: env['NATS_SERVER_BIN'] }
        : {}),
    });
    return localNats(server);
  } catch (error) {
    attempts.push(`private nats-server: ${(error as Error).message}`);
    throw new TestServerUnavailableError(
      'NATS',
      options.restartable === true ? 'NATS_SERVER_BIN' : 'NATS_URL',
      attempts,
      {
        cause: error,
      },
    );
  }
}

function notRestartable(source: TestServerSource): () => Promise<never> {
  return () =>
    Promise.reject(
      new Error(
        `the ${source} NATS server cannot be stopped or restarted by a test; call startNats({ restartable: true })`,
      ),
    );
}

function sharedNats(url: string): TestNats {
  return {
    url,
    source: 'env',
    stop: notRestartable('env'),
    start: notRestartable('env'),
    restart: notRestartable('env'),
    close: () => Promise.resolve(),
  };
}

async function containerNats(): Promise<TestNats> {
  // Imported only here: testcontainers is heavy and useless without a Docker engine.
  const { NatsContainer } = await import('@testcontainers/nats');
  const container = await new NatsContainer(NATS_IMAGE).withJetStream().start();
  // The module starts the server with --user/--pass; carry them in the URL so callers need one string.
  const auth =
    container.username === undefined ? '' : `${container.username}:${container.password ?? ''}@`;
  const url = `nats://${auth}${container.getHost()}:${container.getMappedPort(4222)}`;
  return {
    url,
    source: 'container',
    stop: notRestartable('container'),
    start: notRestartable('container'),
    restart: notRestartable('container'),
    close: async () => {
      await container.stop();
    },
  };
}

function localNats(server: LocalNatsServer): TestNats {
  return {
    url: server.url,
    source: 'local',
    stop: (signal) => server.stop(signal),
    start: () => server.start(),
    restart: (signal) => server.restart(signal),
    close: () => server.close(),
  };
}
