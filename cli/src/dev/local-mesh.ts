import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
  /** Process ids of the trainer workers ({@link LocalMeshOptions.workers}), in start order. */
  readonly workerPids: readonly number[];
  /** `host:port` of each service. */
  readonly addresses: Readonly<Record<MeshService, string>>;
  /** Port of the annotators' web page (preferences). */
  readonly webPort: number;
  /** SIGTERM to every process (they drain in-flight calls), resolving when all have exited. */
  stop(): Promise<void>;
}

/** One of {@link MESH_SERVICES}. */
export type MeshService = (typeof MESH_SERVICES)[number];

/** How the processes export their spans (through `@lathe/telemetry`'s register entry). */
export interface MeshTraces {
  /** `OTEL_TRACES_EXPORTER` of every process: `otlp`, `console`, `file`, or a list. */
  readonly exporter: string;
  /** `LATHE_TRACES_FILE`, for the `file` exporter: every process appends to it. */
  readonly file?: string;
}

/** Options of {@link startLocalMesh}. */
export interface LocalMeshOptions {
  /** Repository root holding `services/<name>/dist/src/main.js`. */
  readonly root: string;
  /**
   * Port of the first service; the others follow. Default 50061. 0 picks free ports (tests).
   */
  readonly basePort?: number;
  /** Milliseconds to wait for every service to log `listening`. Default 300 000 (a busy 2-core machine takes minutes to load five processes). */
  readonly startTimeoutMs?: number;
  /**
   * Folder for the services' state (PGlite databases, artifacts, scratch), so a second run finds
   * what the first made. Default: in-memory databases and `.lathe/` in the working directory.
   * With {@link servers}, only the artifacts and scratch folders go there.
   */
  readonly stateDir?: string;
  /**
   * Real servers instead of the embedded defaults: every service and worker uses this NATS
   * (JetStream) and this PostgreSQL database (each service its own schema). Default: PGlite and
   * in-process buses.
   */
  readonly servers?: { readonly natsUrl: string; readonly databaseUrl: string };
  /** Port of the annotators' web page (preferences). Default 8062; 0 picks a free one. */
  readonly webPort?: number;
  /**
   * Run the TypeScript sources through tsx (`--conditions=lathe-source`) instead of the built
   * `dist` entry points: tests need no build. Default false.
   */
  readonly fromSource?: boolean;
  /** Span export of every process; default none (the register entry is not loaded). */
  readonly traces?: MeshTraces;
  /**
   * Trainer worker processes (`services/training` `worker-main`) started after the services,
   * pulling from the JetStream work queue: needs {@link servers}. Default 0.
   */
  readonly workers?: number;
  /** Variables added to every process's environment (after the mesh's own). */
  readonly env?: Readonly<Record<string, string>>;
  /** Variables added to one service's environment (after {@link env}). */
  readonly serviceEnv?: Partial<Record<MeshService | 'worker', Readonly<Record<string, string>>>>;
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
 * Starts every service as its own process from its entry point (built, or the sources with
 * {@link LocalMeshOptions.fromSource}), bound to loopback with authentication off (a developer's
 * machine; deployments use JWT, see the service kit) unless {@link LocalMeshOptions.serviceEnv}
 * says otherwise, tells each where the others are, and waits until each logs `listening`; then
 * starts the trainer workers and waits until each logs `worker started`. If one fails to start,
 * the others are stopped and the error names it.
 */
export async function startLocalMesh(options: LocalMeshOptions): Promise<LocalMesh> {
  const timeoutMs = options.startTimeoutMs ?? 300_000;
  const workers = options.workers ?? 0;
  if (workers > 0 && options.servers === undefined)
    throw new Error('trainer workers need real servers (NATS JetStream, PostgreSQL)');
  if (options.stateDir !== undefined) mkdirSync(join(options.stateDir, 'db'), { recursive: true });
  const ports =
    options.basePort === 0
      ? await freePorts(MESH_SERVICES.length + (options.webPort === undefined ? 1 : 0))
      : MESH_SERVICES.map((_, i) => (options.basePort ?? 50061) + i);
  let webPort = options.webPort ?? (options.basePort === 0 ? (ports[5] ?? 0) : 8062);
  const addresses = Object.fromEntries(
    MESH_SERVICES.map((service, i) => [service, `127.0.0.1:${String(ports[i] ?? 0)}`]),
  ) as Record<MeshService, string>;
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    // Workers first: they give running jobs back to the queue while the services still answer.
    const workerChildren = children.slice(MESH_SERVICES.length);
    await Promise.all(workerChildren.map(stopChild));
    await Promise.all(children.map(stopChild));
  };
  const start = (name: string, entry: string, env: Record<string, string>): ChildProcess => {
    const path = entryPath(options.root, entry, options.fromSource === true);
    if (!existsSync(path)) throw new Error(`${path} is missing: run 'pnpm build' first`);
    const child = spawn(
      process.execPath,
      [...nodeArgs(options.root, options.fromSource === true, options.traces), path],
      {
        cwd: options.root,
        env: {
          ...process.env,
          ...traceEnv(name, options.traces),
          ...env,
          ...options.env,
          ...options.serviceEnv?.[name as MeshService | 'worker'],
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    return child;
  };
  try {
    const members = await Promise.all(
      MESH_SERVICES.map(async (service, i) => {
        const port = ports[i] ?? 0;
        // Without real servers the training service and its trainer share one process: the
        // in-process bus and a PGlite database cannot be shared between processes.
        const entry =
          service === 'training' && options.servers === undefined
            ? 'cli/src/dev/embedded-training-main'
            : `services/${service}/src/main`;
        const child = start(service, entry, {
          LATHE_GRPC_HOST: '127.0.0.1',
          [`LATHE_${service.toUpperCase()}_PORT`]: String(port),
          LATHE_AUTH_MODE: 'none',
          LATHE_PREFERENCES_WEB_PORT: String(webPort),
          LATHE_PREFERENCES_DATASETS_ADDRESS: addresses.datasets,
          LATHE_DATASETS_REGISTRY_ADDR: addresses.registry,
          LATHE_QUANTIZATION_REGISTRY_ADDR: addresses.registry,
          LATHE_REGISTRY_ADDR: addresses.registry,
          LATHE_DATASETS_ADDR: addresses.datasets,
          LATHE_QUANTIZATION_ADDR: addresses.quantization,
          ...storageEnv(service, options),
        });
        const line = await waitForLine(
          service,
          child,
          '"msg":"listening"',
          timeoutMs,
          options.onLog,
        );
        if (service === 'preferences') webPort = loggedWebPort(line) ?? webPort;
        return { service, port, pid: child.pid ?? -1 };
      }),
    );
    const workerPids: number[] = [];
    for (let i = 0; i < workers; i++) {
      const child = start('worker', 'services/training/src/worker-main', {
        ...workerEnv(options, addresses),
        LATHE_WORKER_ID: `dev-worker-${String(i + 1)}`,
      });
      await waitForLine(
        `worker ${String(i + 1)}`,
        child,
        '"msg":"worker started"',
        timeoutMs,
        options.onLog,
      );
      workerPids.push(child.pid ?? -1);
    }
    return { members, workerPids, addresses, webPort, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `dir/entry.ts` from the sources, else `dir/<package>/dist/src/<file>.js`. */
function entryPath(root: string, entry: string, fromSource: boolean): string {
  if (fromSource) return join(root, `${entry}.ts`);
  return join(root, entry.replace('/src/', '/dist/src/') + '.js');
}

/** Node's flags: tsx for sources, and the telemetry register entry when spans are exported. */
function nodeArgs(root: string, fromSource: boolean, traces: MeshTraces | undefined): string[] {
  const args = fromSource ? ['--conditions=lathe-source', '--import', 'tsx'] : [];
  if (traces !== undefined) {
    const register = fromSource
      ? join(root, 'libs', 'telemetry', 'src', 'register.ts')
      : join(root, 'libs', 'telemetry', 'dist', 'src', 'register.js');
    args.push('--import', pathToFileURL(register).href);
  }
  return args;
}

/** The `OTEL_*` variables of one process: its service name and the chosen span exporter. */
function traceEnv(name: string, traces: MeshTraces | undefined): Record<string, string> {
  if (traces === undefined) return {};
  return {
    OTEL_SERVICE_NAME: name === 'worker' ? 'training-worker' : name,
    OTEL_TRACES_EXPORTER: traces.exporter,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...(traces.file === undefined ? {} : { LATHE_TRACES_FILE: traces.file }),
  };
}

/** Storage of one service: the real servers when given, else its own PGlite database. */
function storageEnv(service: string, options: LocalMeshOptions): Record<string, string> {
  const dir = options.stateDir;
  const servers = options.servers;
  if (servers === undefined) return dir === undefined ? {} : stateEnv(service, dir);
  const artifacts = join(dir ?? '.lathe', 'artifacts');
  const common = { NATS_URL: servers.natsUrl };
  switch (service) {
    case 'datasets':
      return {
        ...common,
        LATHE_DATASETS_DATABASE_URL: servers.databaseUrl,
        LATHE_DATASETS_ARTIFACT_DIR: artifacts,
      };
    case 'preferences':
      return { ...common, LATHE_PREFERENCES_STORE_URL: servers.databaseUrl };
    case 'registry':
      return {
        ...common,
        LATHE_REGISTRY_STORE_URL: servers.databaseUrl,
        LATHE_REGISTRY_ARTIFACTS: artifacts,
        LATHE_REGISTRY_WORK_DIR: join(dir ?? '.lathe', 'registry-work'),
      };
    case 'quantization':
      return {
        ...common,
        LATHE_QUANTIZATION_DATABASE_URL: servers.databaseUrl,
        LATHE_QUANTIZATION_REGISTRY_ARTIFACTS: artifacts,
        LATHE_QUANTIZATION_SCRATCH_DIR: join(dir ?? '.lathe', 'quantization-scratch'),
      };
    case 'training':
      return { ...common, LATHE_TRAINING_DATABASE_URL: servers.databaseUrl };
    default:
      return common;
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
    case 'quantization':
      return {
        LATHE_QUANTIZATION_DATABASE_URL: db,
        LATHE_QUANTIZATION_REGISTRY_ARTIFACTS: artifacts,
        LATHE_QUANTIZATION_SCRATCH_DIR: join(dir, 'quantization-scratch'),
      };
    case 'training':
      return {
        LATHE_TRAINING_DATABASE_URL: db,
        LATHE_WORKER_ARTIFACTS: artifacts,
        LATHE_WORKER_SCRATCH_DIR: join(dir, 'worker-scratch'),
      };
    default:
      return {};
  }
}

/** A trainer worker's variables: the servers, the registry and datasets, the shared artifacts. */
function workerEnv(
  options: LocalMeshOptions,
  addresses: Readonly<Record<MeshService, string>>,
): Record<string, string> {
  const dir = options.stateDir ?? '.lathe';
  return {
    NATS_URL: options.servers?.natsUrl ?? '',
    LATHE_TRAINING_DATABASE_URL: options.servers?.databaseUrl ?? '',
    LATHE_REGISTRY_ADDR: addresses.registry,
    LATHE_DATASETS_ADDR: addresses.datasets,
    LATHE_WORKER_ARTIFACTS: join(dir, 'artifacts'),
    LATHE_WORKER_SCRATCH_DIR: join(dir, 'worker-scratch'),
  };
}

/** `count` ports that were free a moment ago (bound to 0 and released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** The `webPort` field of the preferences service's `listening` log line. */
function loggedWebPort(line: string): number | undefined {
  try {
    const port = (JSON.parse(line) as { fields?: { webPort?: unknown } }).fields?.webPort;
    return typeof port === 'number' ? port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the first line holding `marker`; rejects with the process's last log lines if it
 * exits first.
 */
function waitForLine(
  service: string,
  child: ChildProcess,
  marker: string,
  timeoutMs: number,
  onLog: LocalMeshOptions['onLog'],
): Promise<string> {
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
        if (line.includes(marker)) {
          clearTimeout(timer);
          resolve(line);
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
