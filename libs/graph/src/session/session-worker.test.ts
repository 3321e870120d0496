import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import { serializeModel } from '../onnx/model-proto.js';
import { seededUniform } from '../testing/seeded-uniform.js';
import { GraphSession } from './graph-session.js';
import { SessionWorker } from './session-worker.js';
import type { TensorMap } from './tensor-data.js';

/** y = tanh(…tanh(x·W)·W…): `depth` 768² float32 matmuls, a few hundred ms on one thread. */
function heavyModel(depth: number): Uint8Array {
  const g = new GraphBuilder();
  let x = g.input('x', 'float32', ['N', 768]);
  const w = g.initializer(
    'w',
    'float32',
    [768, 768],
    Float32Array.from(seededUniform(1, 768 * 768, -0.05, 0.05)),
  );
  for (let i = 0; i < depth; i++) x = g.tanh(g.matmul(x, w));
  g.output('y', g.reduceSum(x, [], false));
  return serializeModel(g);
}

const HEAVY_FEEDS: TensorMap = {
  x: { dtype: 'float32', dims: [768, 768], data: Float32Array.from(seededUniform(2, 768 * 768)) },
};

/** Counts 5 ms timer ticks while `work` runs. */
async function ticksDuring(work: () => Promise<unknown>): Promise<{ ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { ticks, ms: performance.now() - start };
}

describe('SessionWorker', () => {
  it('returns the same outputs as an in-thread session', async () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'float64', ['B', 3]);
    const b = g.input('b', 'float64', [3]);
    g.output('y', g.mul(g.exp(a), b));
    g.output('n', g.shape(a));
    const bytes = serializeModel(g);
    const feeds: TensorMap = {
      a: { dtype: 'float64', dims: [2, 3], data: seededUniform(3, 6) },
      // A view into a larger buffer, as trainable tensors sliced from one flat array are.
      b: { dtype: 'float64', dims: [3], data: seededUniform(4, 1000).subarray(500, 503) },
    };
    const local = await GraphSession.create(bytes);
    const worker = await SessionWorker.create(bytes);
    expect(worker.inputNames).toEqual(['a', 'b']);
    expect(worker.outputNames).toEqual(['y', 'n']);
    const [x, y] = [await local.run(feeds), await worker.run(feeds)];
    expect(y['y']?.data).toEqual(x['y']?.data);
    expect(y['n']?.data).toEqual(BigInt64Array.from([2n, 3n]));
    expect(feeds['a']?.data.length).toBe(6); // the caller's arrays are not detached
    await Promise.all([local.close(), worker.close()]);
    await expect(worker.run(feeds)).rejects.toThrow();
  });

  it('keeps the calling event loop live during a long run, unlike an in-thread session', async () => {
    const bytes = heavyModel(12);
    const worker = await SessionWorker.create(bytes, { intraOpThreads: 1 });
    const local = await GraphSession.create(bytes, { intraOpThreads: 1 });
    const inWorker = await ticksDuring(() => worker.run(HEAVY_FEEDS));
    const inThread = await ticksDuring(() => local.run(HEAVY_FEEDS));
    // Both runs are long enough (≥ 50 ms) for a live 5 ms timer to fire ≥ 10 times. During the
    // worker run it fires (at least a quarter of the ideal count, allowing a busy machine); the
    // in-thread run blocks it (at most a tick or two around the await).
    expect(inWorker.ms).toBeGreaterThan(50);
    expect(inThread.ms).toBeGreaterThan(50);
    expect(inWorker.ticks).toBeGreaterThanOrEqual(Math.max(3, inWorker.ms / 5 / 4));
    expect(inThread.ticks).toBeLessThanOrEqual(2);
    await Promise.all([worker.close(), local.close()]);
  });

  it('terminate() rejects the run in progress and queued runs at once, then the thread ends', async () => {
    const worker = await SessionWorker.create(heavyModel(6), { intraOpThreads: 1 });
    const outcomes = [worker.run(HEAVY_FEEDS), worker.run(HEAVY_FEEDS)].map((p) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    const start = performance.now();
    const exited = worker.terminate();
    expect(await Promise.all(outcomes)).toEqual([
      'session worker was terminated',
      'session worker was terminated',
    ]);
    expect(performance.now() - start).toBeLessThan(50); // rejected without waiting for the run
    await exited;
    await expect(worker.run(HEAVY_FEEDS)).rejects.toThrow('session worker was terminated');
  });

  it('reports a model that cannot be loaded', async () => {
    await expect(SessionWorker.create(Uint8Array.from([1, 2, 3]))).rejects.toThrow(
      /cannot create onnxruntime session/,
    );
  });
});
