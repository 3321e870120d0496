// Process entry of the training service with its trainer in one process (the embedded mode of
// `lathe dev`: PGlite and the in-process bus cannot be shared between processes). Reads the same
// variables as the service's and the worker's own entry points; exits 0 on SIGTERM/SIGINT after
// the trainer has given its running job back.
import { ConfigError, EXIT_CONFIG, EXIT_START_FAILED, Logger } from '@lathe/service-kit';
import { startEmbeddedTraining, type EmbeddedTraining } from '@lathe/training';

const log = new Logger('training');
let running: EmbeddedTraining | undefined;
try {
  running = await startEmbeddedTraining(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`training: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  log.error('start failed', { error: error instanceof Error ? error : new Error(String(error)) });
  process.exit(EXIT_START_FAILED);
}
const service = running;
log.info('listening', { port: service.port, embedded: true });
let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  void service.stop().then(() => {
    log.info('stopped');
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
