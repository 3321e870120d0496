// The images' entry point, deploy/docker/lathe-service, run over the workspace's own bundle layout
// (deploy/node_modules/@lathe/* are the packages `pnpm deploy` copies into the image): it starts
// the chosen service under the OpenTelemetry register hook, and the health probe finds it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createTestDatabase,
  DEFAULT_NATS_SERVER_BIN,
  findFreePort,
  LocalNatsServer,
} from '@lathe/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrainingQueue } from '../src/queue-check.js';
import { runProbe } from '../src/run-probe.js';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
const launcher = fileURLToPath(new URL('../docker/lathe-service', import.meta.url));
const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));
const builtEntries = [
  'node_modules/@lathe/quantization/dist/src/main.js',
  'node_modules/@lathe/telemetry/dist/src/register.js',
].map((path) => fileURLToPath(new URL(`../${path}`, import.meta.url)));
const built = builtEntries.every((path) => existsSync(path));
const workerEntry = fileURLToPath(
  new URL('../node_modules/@lathe/training/dist/src/worker-main.js', import.meta.url),
);
const natsBinary = process.env['NATS_SERVER_BIN'] ?? DEFAULT_NATS_SERVER_BIN;

interface Run {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

function launch(args: string[], environment: Record<string, string>): Run {
  const child = spawn(launcher, args, {
    cwd: deployDir,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      LATHE_APP_DIR: deployDir,
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, stdout, stderr, exited };
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('lathe-service (the images entry point)', () => {
  const runs: Run[] = [];
  afterAll(() => {
    for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it('refuses an unknown service with the usage, exit 64', async () => {
    const run = launch(['inference'], {});
    runs.push(run);
    expect(await run.exited).toBe(64);
    expect(run.stderr.join('')).toMatch(
      /usage: lathe-service datasets\|preferences\|quantization\|training\|registry\|worker/,
    );
  });

  it.skipIf(!built)(
    `runs a service under the telemetry hook; the probe finds it by its port variable (needs ${builtEntries.join(', ')}: pnpm build)`,
    async () => {
      const port = String(await findFreePort());
      const environment = {
        LATHE_AUTH_MODE: 'none',
        LATHE_GRPC_HOST: '127.0.0.1',
        LATHE_QUANTIZATION_PORT: port,
        LATHE_PROTO_DIR: protoDir,
        OTEL_TRACES_EXPORTER: 'console',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
      };
      const run = launch(['quantization'], environment);
      runs.push(run);
      await until(() => run.stdout.join('').includes('"msg":"listening"'), 60_000);
      const lines: string[] = [];
      expect(await runProbe([], environment, (line) => lines.push(line))).toBe(0);
      expect(lines).toEqual([`SERVING: 127.0.0.1:${port}`]);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      const stdout = run.stdout.join('');
      // The console exporter printed the server span of the probe's call: the hook patched grpc-js.
      expect(stdout).toMatch(/grpc\.health\.v1\.Health\/Check/);
      expect(stdout).toMatch(/lathe-quantization/);
    },
    90_000,
  );
  it.skipIf(!existsSync(workerEntry) || !existsSync(natsBinary))(
    `runs the trainer worker: it declares its queue, the image's queue check sees it waiting, SIGTERM stops it (needs pnpm build and ${natsBinary})`,
    async () => {
      const nats = await LocalNatsServer.launch();
      const database = await createTestDatabase();
      try {
        const run = launch(['worker'], {
          NATS_URL: nats.url,
          LATHE_TRAINING_DATABASE_URL: database.url,
          LATHE_WORKER_DEVICE: 'cpu',
          LATHE_WORKER_SCRATCH_DIR: join(tmpdir(), `lathe-deploy-worker-${String(process.pid)}`),
          LATHE_PROTO_DIR: protoDir,
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
        });
        runs.push(run);
        await until(() => run.stdout.join('').includes('"msg":"worker started"'), 60_000);
        const state = await readTrainingQueue(nats.url, 'cpu');
        expect(state).toMatchObject({
          stream: 'LATHE_WORK_TRAINING_CPU',
          consumer: 'workers',
          pending: 0,
          inFlight: 0,
        });
        run.child.kill('SIGTERM');
        expect(await run.exited).toBe(0);
        expect(run.stdout.join('')).toContain('"msg":"worker stopped"');
      } finally {
        await database.close();
        await nats.close();
      }
    },
    120_000,
  );
});
