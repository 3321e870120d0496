// The names the chart's KEDA trigger and the queue check use are the ones @lathe/bus gives the
// training worker's queue on a real JetStream server (a private nats-server, so the queue is ours).
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectJetStreamBus, rawBytesCodec, type EventBus } from '@lathe/bus';
import { DEFAULT_NATS_SERVER_BIN, LocalNatsServer } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrainingQueue } from '../src/queue-check.js';
import { trainingQueueNames } from '../src/training-queue.js';

const natsBinary = process.env['NATS_SERVER_BIN'] ?? DEFAULT_NATS_SERVER_BIN;
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const checkMain = fileURLToPath(new URL('../src/queue-check-main.ts', import.meta.url));

function runCheck(environment: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', checkMain], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '', ...environment },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

describe.skipIf(!existsSync(natsBinary))(
  `training work queue on JetStream (needs ${natsBinary})`,
  () => {
    let server: LocalNatsServer;
    let bus: EventBus;

    beforeAll(async () => {
      server = await LocalNatsServer.launch();
      bus = await connectJetStreamBus({ servers: server.url, name: 'deploy-test' });
    });

    afterAll(async () => {
      await bus?.close();
      await server?.close();
    });

    it('reads pending and in-flight jobs of lathe.work.training-cuda under the derived names', async () => {
      const names = trainingQueueNames('cuda');
      expect(names).toEqual({
        subject: 'lathe.work.training-cuda',
        stream: 'LATHE_WORK_TRAINING_CUDA',
        consumer: 'workers',
      });
      const queue = await bus.workQueue({ name: 'training-cuda', codec: rawBytesCodec });
      expect(await readTrainingQueue(server.url, 'cuda')).toMatchObject({
        pending: 0,
        inFlight: 0,
      });
      for (const id of ['a', 'b', 'c']) {
        await queue.enqueue(Uint8Array.from([1]), { id: `job-${id}` });
      }
      expect(await readTrainingQueue(server.url, 'cuda')).toMatchObject({
        pending: 3,
        inFlight: 0,
      });
      const job = await queue.take({ waitMs: 2000 });
      expect(job).toBeDefined();
      expect(await readTrainingQueue(server.url, 'cuda')).toMatchObject({
        pending: 2,
        inFlight: 1,
      });
      await job?.ack();
      expect(await readTrainingQueue(server.url, 'cuda')).toMatchObject({
        pending: 2,
        inFlight: 0,
      });
    });

    it('fails for a queue nobody declared, naming it', async () => {
      await expect(readTrainingQueue(server.url, 'cpu')).rejects.toThrow(/not found/i);
    });

    it('lathe-queue-check prints the figures, exit 0; exit 1 when the queue or NATS is missing', async () => {
      const ok = await runCheck({ NATS_URL: server.url, LATHE_WORKER_DEVICE: 'cuda' });
      expect(ok).toEqual({
        code: 0,
        out: 'lathe.work.training-cuda (stream LATHE_WORK_TRAINING_CUDA, consumer workers): pending 2, in flight 0, waiting pulls 0\n',
      });
      const missing = await runCheck({ NATS_URL: server.url, LATHE_WORKER_DEVICE: 'cpu' });
      expect(missing.code).toBe(1);
      const noUrl = await runCheck({});
      expect(noUrl).toEqual({ code: 1, out: 'lathe-queue-check: NATS_URL is not set\n' });
      const badDevice = await runCheck({ NATS_URL: server.url, LATHE_WORKER_DEVICE: 'tpu' });
      expect(badDevice.code).toBe(1);
      expect(badDevice.out).toMatch(/LATHE_WORKER_DEVICE must be one of cpu, cuda/);
    });
  },
);
