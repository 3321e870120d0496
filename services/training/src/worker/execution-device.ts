// The execution provider a worker trains on, checked once at start.
import { totalmem, availableParallelism } from 'node:os';
import { GraphBuilder, GraphSession, serializeModel } from '@lathe/graph';
import { createLlamaEngine, type TrainingEngineFactory } from '@lathe/llm';

/** Where a worker trains. */
export type WorkerDevice = 'cpu' | 'cuda';

/** The device cannot run onnxruntime sessions (e.g. CUDA asked of a CPU-only build). */
export class DeviceUnavailableError extends Error {
  override readonly name = 'DeviceUnavailableError';
}

/**
 * Runs a one-op graph on `device` so that a worker configured for CUDA on a machine (or an
 * onnxruntime build) without it stops at start with the reason, instead of failing every job.
 *
 * @throws DeviceUnavailableError naming the device and onnxruntime's reason
 */
export async function probeDevice(device: WorkerDevice): Promise<void> {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 2]);
  g.output('y', g.add(x, x));
  let session: GraphSession;
  try {
    session = await GraphSession.create(serializeModel(g), { executionProvider: device });
  } catch (error) {
    throw new DeviceUnavailableError(
      `execution provider "${device}" is not available in this onnxruntime build or machine: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  try {
    await session.run({ x: { dtype: 'float32', dims: [1, 2], data: Float32Array.from([1, 2]) } });
  } finally {
    await session.close();
  }
}

/** The engine factory of a worker: this library's Llama graph on `device` with `threads`. */
export function engineFactoryFor(device: WorkerDevice, threads: number): TrainingEngineFactory {
  return (model, method) =>
    createLlamaEngine(model, method, {
      session: { executionProvider: device, ...(threads > 0 ? { intraOpThreads: threads } : {}) },
    });
}

/** What a worker reports about itself in attempt rows and its start-up log line. */
export function workerCapabilities(options: {
  workerId: string;
  device: WorkerDevice;
  threads: number;
  concurrency: number;
}): Record<string, string | number> {
  return {
    workerId: options.workerId,
    device: options.device,
    executionProvider: options.device,
    memoryBytes: totalmem(),
    cpus: availableParallelism(),
    threads: options.threads,
    concurrency: options.concurrency,
    node: process.version,
  };
}
