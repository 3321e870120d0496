import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/** The five deployables, in the order their default ports run (50061-50065). */
export const MESH_SERVICES = [
  'datasets',
  'preferences',
  'quantization',
  'training',
  'registry',
] as const;

/** One service of a running local mesh. */
export interface MeshMember {
  readonly service: (typeof MESH_SERVICES)[number];
  readonly port: number;
  readonly pid: number;
}

/** A mesh of service processes started by {@link startLocalMesh}. */
export interface LocalMesh {
  readonly members: readonly MeshMember[];
  /** SIGTERM to every service (they drain in-flight calls), resolving when all have exited. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalMesh}. */
export interface LocalMeshOptions {
  /** Repository root holding `services/<name>/dist/src/main.js`. */
  readonly root: string;
  /** Port of the first service; the others follow. Default 50061. */
  readonly basePort?: number;
  /** Milliseconds to wait for every service to log `listening`. Default 30 000. */
  readonly startTimeoutMs?: number;
  /**
   * Folder for the services' state (PGlite databases, artifacts, scratch), so a second run finds
   * what the first made. Default: in-memory databases and `.lathe/` in the working directory.
   */
  readonly stateDir?: string;
  /** Port of the annotators' web page (preferences). Default 8062; 0 picks a free one. */
  readonly webPort?: number;
  /** Where each service's JSON log lines go (its stdout and stderr). */
  readonly onLog?: (service: string, line: string) => void;
}

/**
 * The repository root: the nearest folder above `from` holding `pnpm-workspace.yaml`.
 *
 * @throws Error when there is none (the CLI is not running from a Lathe checkout)
 */
export function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir)
      throw new Error(`no Lathe checkout (pnpm-workspace.yaml) above ${from}`);
  }
}

/**
 * Starts every service as its own process from its built entry point, bound to loopback with
 * authentication off (a developer's machine; deployments use JWT, see the service kit), and waits
 * until each logs `listening`. If one fails to start, the others are stopped and the error names it.
 */
export async function startLocalMesh(options: LocalMeshOptions): Promise<LocalMesh> {
  const basePort = options.basePort ?? 50061;
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  if (options.stateDir !== undefined) mkdirSync(join(options.stateDir, 'db'), { recursive: true });
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
  };
  try {
    const members = await Promise.all(
      MESH_SERVICES.map(async (service, i) => {
        const entry = join(options.root, 'services', service, 'dist', 'src', 'main.js');
        if (!existsSync(entry)) throw new Error(`${entry} is missing: run 'pnpm build' first`);
        const port = basePort + i;
        const child = spawn(process.execPath, [entry], {
          env: {
            ...process.env,
            LATHE_GRPC_HOST: '127.0.0.1',
            [`LATHE_${service.toUpperCase()}_PORT`]: String(port),
            LATHE_AUTH_MODE: 'none',
            LATHE_PREFERENCES_WEB_PORT: String(options.webPort ?? 8062),
            ...(options.stateDir === undefined ? {} : stateEnv(service, options.stateDir)),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        await waitListening(service, child, timeoutMs, options.onLog);
        return { service, port, pid: child.pid ?? -1 };
      }),
    );
    return { members, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Embedded storage of one service under `dir`: its own PGlite database, shared artifact root. */
function stateEnv(service: string, dir: string): Record<string, string> {
  const db = `pglite:${join(dir, 'db', service)}`;
  const artifacts = join(dir, 'artifacts');
  switch (service) {
    case 'datasets':
      return { LATHE_DATASETS_DATABASE_URL: db, LATHE_DATASETS_ARTIFACT_DIR: artifacts };
    case 'preferences':
      return { LATHE_PREFERENCES_STORE_URL: db };
    case 'registry':
      return {
        LATHE_REGISTRY_STORE_URL: db,
        LATHE_REGISTRY_ARTIFACTS: artifacts,
        LATHE_REGISTRY_WORK_DIR: join(dir, 'registry-work'),
      };
    default:
      return {};
  }
}

/** Resolves when the service logs `listening`; rejects with its last log line if it exits first. */
function waitListening(
  service: string,
  child: ChildProcess,
  timeoutMs: number,
  onLog: LocalMeshOptions['onLog'],
): Promise<void> {
  return new Promise((resolve, reject) => {
    // The last few lines: a crash ends with a stack and Node's version, a kit failure with one JSON line.
    const tail: string[] = [];
    const last = (): string => tail.join(' | ');
    const timer = setTimeout(() => {
      reject(new Error(`${service} did not start within ${timeoutMs} ms (last log: ${last()})`));
    }, timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (line.trim() !== '') tail.push(logSummary(line));
        if (tail.length > 3) tail.shift();
        onLog?.(service, line);
        if (line.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${service} exited with code ${code ?? 'null'} while starting: ${last()}`));
    });
  });
}

/** A JSON log line shortened to its message and error message, for one-line start failures. */
function logSummary(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; fields?: { error?: { message?: unknown } } };
    const error = entry.fields?.error?.message;
    return typeof error === 'string' ? `${String(entry.msg)}: ${error}` : String(entry.msg);
  } catch {
    return line;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
