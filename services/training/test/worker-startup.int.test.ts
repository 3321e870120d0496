// The worker process refuses to start, in one line and with exit 78, on a bad environment and on
// an execution provider the onnxruntime build or machine lacks.
import { describe, expect, it } from 'vitest';
import { runUntilExit } from '@lathe/service-kit/testing';

const ENTRY = 'services/training/src/worker-main.ts';
const BASE = { NATS_URL: 'nats://127.0.0.1:1', LATHE_TRAINING_DATABASE_URL: 'pglite:memory' };

describe('trainer worker start-up', () => {
  it('names a bad variable and exits 78', async () => {
    const r = await runUntilExit(ENTRY, { ...BASE, LATHE_WORKER_CONCURRENCY: '0' });
    expect(r.code).toBe(78);
    expect(r.stderr.join('\n')).toMatch(/LATHE_WORKER_CONCURRENCY/);
    const d = await runUntilExit(ENTRY, { ...BASE, LATHE_WORKER_DEVICE: 'tpu' });
    expect(d.code).toBe(78);
    expect(d.stderr.join('\n')).toMatch(/LATHE_WORKER_DEVICE.*cpu\|cuda/);
  }, 60_000);

  it('stops at start when CUDA is asked of a build or machine without it', async () => {
    const r = await runUntilExit(ENTRY, { ...BASE, LATHE_WORKER_DEVICE: 'cuda' });
    const stderr = r.stderr.join('\n');
    if (r.code === 78) {
      expect(stderr).toMatch(/execution provider "cuda" is not available/);
    } else {
      // A CUDA-capable onnxruntime: the probe passed and the worker went on to connect to NATS
      // (here an unreachable address), failing there instead.
      expect(stderr).not.toMatch(/execution provider "cuda" is not available/);
      console.log(
        `CUDA provider available; worker exited ${String(r.code)} on the unreachable NATS`,
      );
    }
  }, 60_000);
});
