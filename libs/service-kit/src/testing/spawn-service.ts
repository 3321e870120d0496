import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A service process started by {@link spawnService}. */
export interface SpawnedService {
  readonly child: ChildProcess;
  /** `127.0.0.1:<port>` once it logged `listening`. */
  readonly address: string;
  /** Every stdout line so far (JSON log lines). */
  readonly stdout: string[];
  /** Every stderr line so far. */
  readonly stderr: string[];
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** How to start a service entry point. */
export interface SpawnOptions {
  /** `src/main.ts` (run through tsx) or `dist/src/main.js`. */
  readonly entry: string;
  /** Environment on top of a minimal base (PATH, HOME); port 0 is added unless given. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory; the repository root, so `--import tsx` resolves. */
  readonly cwd: string;
  /** How long to wait for `listening`, ms. Default 20 000. */
  readonly startTimeoutMs?: number;
}

function runArgs(entry: string): string[] {
  return entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
}

/** Starts the entry as a real child process and returns once it exits (see `exited`), without waiting for `listening`. */
export function spawnProcess(
  options: SpawnOptions,
): Omit<SpawnedService, 'address'> & { readonly listening: Promise<string> } {
  const env = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    LATHE_GRPC_PORT: '0',
    LATHE_GRPC_HOST: '127.0.0.1',
    ...options.env,
  };
  const child = spawn(process.execPath, runArgs(options.entry), {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${options.entry} did not log "listening" within ${String(options.startTimeoutMs ?? 20_000)} ms; stderr: ${stderr.join('\n')}`,
          ),
        ),
      options.startTimeoutMs ?? 20_000,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      const port = listeningPort(line);
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(`127.0.0.1:${String(port)}`);
      }
    });
    createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${options.entry} exited with ${String(code)} before listening; stderr: ${stderr.join('\n')}`,
        ),
      );
    });
  });
  // Callers that only await `exited` must not trip over an unhandled rejection.
  listening.catch(() => undefined);
  return {
    child,
    stdout,
    stderr,
    exited,
    listening,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts a service and waits until it listens. */
export async function spawnService(options: SpawnOptions): Promise<SpawnedService> {
  const p = spawnProcess(options);
  try {
    const address = await p.listening;
    return { ...p, address };
  } catch (error) {
    await p.stop('SIGKILL');
    throw error;
  }
}

function listeningPort(line: string): number | undefined {
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; fields?: { port?: unknown } };
    return parsed.msg === 'listening' && typeof parsed.fields?.port === 'number'
      ? parsed.fields.port
      : undefined;
  } catch {
    return undefined;
  }
}
