import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QuantConfig, QuantizationReport } from '@lathe/llm';
import type { QuantizeThreadInit, QuantizeThreadMessage } from './thread-protocol.js';

/** A failure inside the quantization thread, keeping the class name of the original error. */
export class QuantizeThreadError extends Error {
  override readonly name = 'QuantizeThreadError';
  /** Class name of the error thrown in the thread, e.g. `QuantizationError`. */
  readonly errorName: string;

  constructor(errorName: string, message: string) {
    super(message);
    this.errorName = errorName;
  }
}

/**
 * Starts the thread. Built code runs the compiled entry; under tsx or vitest this module is a
 * .ts file, and Node 20 runs no ESM loader hooks in worker threads, so the thread loads tsx's
 * CommonJS hook first and then the .ts entry (the pattern of @lathe/graph's session worker).
 */
function startThread(init: QuantizeThreadInit): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./quantize-thread-entry.js', import.meta.url), { workerData: init });
  const require = createRequire(import.meta.url);
  const tsxCjs = require.resolve('tsx/cjs');
  const entry = fileURLToPath(new URL('./quantize-thread-entry.ts', import.meta.url));
  const bootstrap = `require(${JSON.stringify(tsxCjs)}); require(${JSON.stringify(entry)});`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

/**
 * Quantizes `sourceDir` into `outDir` with `quantizeModelDir` on a worker thread, so the
 * process's event loop (a gRPC server) stays responsive. `onTensor` is called as each tensor is
 * written. Aborting `signal` terminates the thread at once and rejects with the signal's reason.
 *
 * @throws QuantizeThreadError carrying the thread's error (QuantizationError for NaN/Inf or an
 *   already quantized model, ModelFileError for unreadable files)
 */
export function quantizeInThread(
  sourceDir: string,
  outDir: string,
  config: QuantConfig,
  options: { readonly signal: AbortSignal; readonly onTensor?: (name: string) => void },
): Promise<QuantizationReport> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const thread = startThread({ sourceDir, outDir, config });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', abort);
      void thread.terminate();
      fn();
    };
    const abort = (): void => settle(() => reject(signal.reason as Error));
    signal.addEventListener('abort', abort);
    thread.on('message', (m: QuantizeThreadMessage) => {
      if (m.kind === 'tensor') options.onTensor?.(m.name);
      else if (m.kind === 'done') settle(() => resolve(m.report));
      else settle(() => reject(new QuantizeThreadError(m.errorName, m.message)));
    });
    thread.on('error', (error) => settle(() => reject(error)));
    thread.on('exit', (code) =>
      settle(() => reject(new Error(`quantization thread exited with code ${String(code)}`))),
    );
  });
}
