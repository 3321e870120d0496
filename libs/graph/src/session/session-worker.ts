import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GraphRunner } from './graph-runner.js';
import type { ModelSource } from './graph-session.js';
import type { SessionOptions } from './session-options.js';
import type { TensorData, TensorMap } from './tensor-data.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.js';

interface Pending {
  resolve(value: TensorMap): void;
  reject(error: Error): void;
}

/**
 * A {@link GraphRunner} whose onnxruntime session lives in a worker thread, so the calling
 * thread's event loop (progress, cancellation, heartbeats, gRPC) stays live during long runs.
 * Feeds are copied to the worker (the caller keeps its arrays); outputs are transferred back.
 * {@link SessionWorker.terminate} cancels: pending runs reject at once.
 */
export class SessionWorker implements GraphRunner {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    worker.on('message', (message: WorkerResponse) => this.onMessage(message));
    worker.on('error', (e) =>
      this.fail(new Error(`session worker failed: ${e.message}`, { cause: e })),
    );
    worker.on('exit', (code) => this.fail(new Error(`session worker exited with code ${code}`)));
  }

  /** Starts a worker thread and creates the session in it. */
  static async create(model: ModelSource, options: SessionOptions = {}): Promise<SessionWorker> {
    const worker = startWorker({ model, options });
    const ready = await new Promise<{
      inputNames: readonly string[];
      outputNames: readonly string[];
    }>((resolve, reject) => {
      const onMessage = (m: WorkerResponse): void => {
        cleanup();
        if (m.kind === 'ready') resolve(m);
        else if (m.kind === 'failed') reject(new Error(m.message));
        else reject(new Error(`session worker sent ${m.kind} before ready`));
      };
      const onError = (e: Error): void => {
        cleanup();
        reject(new Error(`session worker failed to start: ${e.message}`, { cause: e }));
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`session worker exited with code ${code} before it was ready`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    return new SessionWorker(worker, ready.inputNames, ready.outputNames);
  }

  /** Runs the graph in the worker; see {@link GraphRunner.run}. */
  run(feeds: TensorMap, outputNames?: readonly string[]): Promise<TensorMap> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('session worker is closed'));
    const id = this.nextId++;
    return new Promise<TensorMap>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const compact = compactFeeds(feeds);
      const request: WorkerRequest = outputNames
        ? { kind: 'run', id, feeds: compact, outputNames }
        : { kind: 'run', id, feeds: compact };
      this.worker.postMessage(request);
    });
  }

  /** Releases the session after queued runs finish, then ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.failure) return;
      const id = this.nextId++;
      await new Promise<void>((resolve) => {
        const onMessage = (m: WorkerResponse): void => {
          if (m.kind === 'closed' && m.id === id) resolve();
        };
        this.worker.on('message', onMessage);
        this.worker.once('exit', () => resolve());
        const request: WorkerRequest = { kind: 'close', id };
        this.worker.postMessage(request);
      });
      await this.worker.terminate();
    })();
    return this.closing;
  }

  /**
   * Cancels: rejects the run in progress and queued runs at once, so the caller moves on, and
   * ends the thread once the native run in progress returns. (Killing a thread inside
   * onnxruntime's run aborts the whole process, so the thread is not killed mid-run.) Resolves
   * when the thread has exited.
   */
  async terminate(): Promise<void> {
    this.fail(new Error('session worker was terminated'));
    if (this.closing) return this.closing;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const request: WorkerRequest = { kind: 'cancel' };
    this.worker.postMessage(request);
    this.closing = exited;
    return exited;
  }

  private onMessage(message: WorkerResponse): void {
    if (message.kind !== 'result' && message.kind !== 'error') return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.kind === 'result') pending.resolve(message.outputs);
    else pending.reject(new Error(message.message));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

/**
 * Structured clone copies a typed array's whole underlying buffer, so a small view into a large
 * buffer (trainable tensors sliced from one flat array) is copied down to its own bytes first.
 */
function compactFeeds(feeds: TensorMap): TensorMap {
  const out: Record<string, TensorData> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const whole = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
    out[name] = whole ? t : { ...t, data: t.data.slice() };
  }
  return out;
}

/**
 * Starts the worker thread. Built (dist) code runs the compiled entry directly. Under vitest or
 * tsx this module is a .ts file, and so is the entry: the thread loads tsx's require hook (resolved
 * from here) and then the .ts entry. `execArgv: ['--import', 'tsx']` does not work on Node 20.
 */
function startWorker(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./session-worker-entry.js', import.meta.url), { workerData: init });
  }
  // Node 20 runs no ESM loader hooks in worker threads, so tsx's CommonJS hook compiles the
  // entry and its imports instead (none of them relies on import.meta).
  const require = createRequire(import.meta.url);
  const tsxCjs = require.resolve('tsx/cjs');
  const entry = fileURLToPath(new URL('./session-worker-entry.ts', import.meta.url));
  const bootstrap = `require(${JSON.stringify(tsxCjs)}); require(${JSON.stringify(entry)});`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}
