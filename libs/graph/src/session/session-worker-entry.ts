// Worker-thread side of SessionWorker: owns one GraphSession and answers run/close requests.
// Output buffers are transferred back, so results cost no second copy.
import { parentPort, workerData } from 'node:worker_threads';
import { GraphSession } from './graph-session.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('session-worker-entry must run in a worker thread');
const init = workerData as WorkerInit;

function post(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function serve(): Promise<void> {
  let session: GraphSession;
  try {
    session = await GraphSession.create(init.model, init.options);
  } catch (e) {
    post({ kind: 'failed', message: messageOf(e) });
    return;
  }
  // Requests are handled one at a time: onnxruntime runs one graph per call anyway, and order
  // is what the caller expects.
  let queue = Promise.resolve();
  let cancelled = false;
  port?.on('message', (request: WorkerRequest) => {
    if (request.kind === 'cancel') {
      // Handled at once, not queued: queued runs are skipped and the thread ends after the
      // native run in progress returns (interrupting onnxruntime mid-run aborts the process).
      cancelled = true;
      queue = queue.then(async () => {
        await session.close();
        port.close();
      });
      return;
    }
    queue = queue.then(async () => {
      if (cancelled) return;
      if (request.kind === 'close') {
        await session.close();
        post({ kind: 'closed', id: request.id });
        port.close();
        return;
      }
      try {
        const outputs = await session.run(request.feeds, request.outputNames);
        const buffers = new Set<ArrayBuffer>();
        for (const t of Object.values(outputs))
          if (t.data.buffer instanceof ArrayBuffer) buffers.add(t.data.buffer);
        post({ kind: 'result', id: request.id, outputs }, [...buffers]);
      } catch (e) {
        post({ kind: 'error', id: request.id, message: messageOf(e) });
      }
    });
  });
  post({ kind: 'ready', inputNames: session.inputNames, outputNames: session.outputNames });
}

void serve();
