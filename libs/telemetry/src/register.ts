// The `--import` entry: `node --import @lathe/telemetry/register main.js`. Starting the SDK here,
// before the application's own modules load, is what lets the gRPC instrumentation patch
// @grpc/grpc-js (instrumentations only patch modules loaded after they are enabled).
import { registerInstrumentationHooks } from './instrumentation-hooks.js';
import { startTelemetry } from './start-telemetry.js';

registerInstrumentationHooks();
const telemetry = startTelemetry();

// Flush what is buffered when the process is asked to stop; the application's own handlers
// still run (we only add listeners).
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void telemetry.shutdown().finally(() => {
      if (process.listenerCount(signal) === 0) process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  });
}
process.once('beforeExit', () => void telemetry.shutdown());
