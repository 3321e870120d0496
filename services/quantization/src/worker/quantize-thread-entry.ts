// Worker-thread side of quantizeInThread: runs quantizeModelDir (typed-array work that would
// block the event loop for a whole tensor at a time) and reports each tensor as it is written.
import { parentPort, workerData } from 'node:worker_threads';
import { quantizeModelDir } from '@lathe/llm';
import type { QuantizeThreadInit, QuantizeThreadMessage } from './thread-protocol.js';

const port = parentPort;
if (port === null) throw new Error('quantize-thread-entry must run in a worker thread');
const init = workerData as QuantizeThreadInit;

function post(message: QuantizeThreadMessage): void {
  port?.postMessage(message);
}

quantizeModelDir(init.sourceDir, init.outDir, init.config, (t) =>
  post({ kind: 'tensor', name: t.name }),
).then(
  (report) => post({ kind: 'done', report }),
  (error: unknown) =>
    post({
      kind: 'failed',
      errorName: error instanceof Error ? error.name : 'Error',
      message: error instanceof Error ? error.message : String(error),
    }),
);
