import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './free-port.js';
import {
  OWNER_FILE,
  releaseDir,
  sweepStaleDirs,
  trackChild,
  trackDir,
  type DirOwner,
} from './process-reaper.js';

/** Where the nats-server binary is looked for when `NATS_SERVER_BIN` is not set. */
export const DEFAULT_NATS_SERVER_BIN = '/usr/sbin/nats-server';
const DIR_PREFIX = 'lathe-testkit-nats-';
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Options for {@link LocalNatsServer.launch}. */
export interface LocalNatsServerOptions {
  /** The nats-server binary. Default: `NATS_SERVER_BIN`, else `/usr/sbin/nats-server`. */
  binary?: string;
  /** JetStream memory limit in bytes. Default 256 MiB, so parallel tests do not starve the host. */
  maxMemoryBytes?: number;
  /** JetStream file-store limit in bytes. Default 2 GiB. */
  maxFileBytes?: number;
}

/**
 * A private `nats-server -js` on 127.0.0.1, a free port and a temporary store directory. It can be
 * stopped (gracefully or by SIGKILL) and started again on the same port and store, which is what
 * fault tests need: streams and consumers survive a restart, connections see it go and come back.
 */
export class LocalNatsServer {
  private child: ChildProcess | undefined;
  private closed = false;

  private constructor(
    /** The port it listens on; kept across restarts. */
    readonly port: number,
    /** The temporary directory holding the config and the JetStream store. */
    readonly dir: string,
    private readonly binary: string,
  ) {}

  /** `nats://127.0.0.1:<port>` */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** True while the server process runs. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Creates the store directory, picks a free port and starts the server. */
  static async launch(options: LocalNatsServerOptions = {}): Promise<LocalNatsServer> {
    const binary = options.binary ?? process.env['NATS_SERVER_BIN'] ?? DEFAULT_NATS_SERVER_BIN;
    if (!existsSync(binary)) {
      throw new Error(
        `nats-server binary not found at "${binary}"; set NATS_SERVER_BIN or NATS_URL`,
      );
    }
    sweepStaleDirs(DIR_PREFIX, 'nats-server');
    // A port is only free until someone binds it: retry a few times if another process wins.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
      trackDir(dir);
      const server = new LocalNatsServer(await findFreePort(), dir, binary);
      await server.writeConfig(options);
      try {
        await server.start();
        return server;
      } catch (error) {
        lastError = error;
        await server.close();
      }
    }
    throw new Error(`could not start a private nats-server after 3 attempts`, { cause: lastError });
  }

  private async writeConfig(options: LocalNatsServerOptions): Promise<void> {
    // server_name is fixed so JetStream finds its own state again after a restart.
    const config = [
      `listen: "127.0.0.1:${this.port}"`,
      `server_name: "lathe-test-${this.port}"`,
      `jetstream {`,
      `  store_dir: ${JSON.stringify(join(this.dir, 'jetstream'))}`,
      `  max_memory_store: ${options.maxMemoryBytes ?? 256 * 1024 * 1024}`,
      `  max_file_store: ${options.maxFileBytes ?? 2 * 1024 * 1024 * 1024}`,
      `}`,
    ].join('\n');
    await writeFile(join(this.dir, 'nats.conf'), config + '\n');
    await this.writeOwner(undefined);
  }

  private writeOwner(serverPid: number | undefined): Promise<void> {
    const owner: DirOwner = {
      ownerPid: process.pid,
      ...(serverPid === undefined ? {} : { serverPid }),
    };
    return writeFile(join(this.dir, OWNER_FILE), JSON.stringify(owner));
  }

  /** Starts the server (again) on the same port and store; resolves when it accepts clients. */
  async start(): Promise<void> {
    if (this.closed)
      throw new Error(`nats-server on port ${this.port} was closed; launch a new one`);
    if (this.child !== undefined) return;
    // setpriv --pdeathsig: the kernel kills the server if this process dies without teardown.
    const args = ['--pdeathsig', 'SIGKILL', '--', this.binary, '-c', join(this.dir, 'nats.conf')];
    const child = existsSync('/usr/bin/setpriv')
      ? spawn('/usr/bin/setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(this.binary, args.slice(3), { stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(child);
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    try {
      await waitForReady(child, this.port);
    } catch (error) {
      child.kill('SIGKILL');
      this.child = undefined;
      throw error;
    }
    await this.writeOwner(child.pid);
  }

  /**
   * Stops the server. `SIGTERM` (default) lets it shut down cleanly; `SIGKILL` simulates a crash.
   * Resolves once the process has exited. The store directory is kept for {@link start}.
   */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** {@link stop} then {@link start}, on the same port and store. */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  /** Stops the server for good and removes its store directory. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
    releaseDir(this.dir);
  }
}

/** Resolves when nats-server logs that it is ready; rejects with its log if it exits first. */
function waitForReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => fail(`did not report ready within ${READY_TIMEOUT_MS} ms`),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      if (log.includes('Server is ready')) {
        cleanup();
        // Keep draining stderr so a chatty server never blocks on a full pipe.
        child.stderr?.resume();
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null): void =>
      fail(`exited (code ${String(code)}, signal ${String(signal)}) before it was ready`);
    function cleanup(): void {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    }
    function fail(reason: string): void {
      cleanup();
      reject(new Error(`nats-server on port ${port} ${reason}; its log:\n${log}`));
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
