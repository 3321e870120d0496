#!/usr/bin/env node
// `lathe-queue-check`: the trainer image's health check, and an operator's view of the backlog.
// Exit 0 with one line of figures when the broker answers and the queue exists, 1 otherwise.
import { TRAINER_DEVICES, type TrainerDevice } from './training-queue.js';
import { readTrainingQueue } from './queue-check.js';

const natsUrl = process.env['NATS_URL'] ?? '';
const device = (process.env['LATHE_WORKER_DEVICE'] ?? 'cpu') as TrainerDevice;
if (natsUrl === '') {
  process.stdout.write('lathe-queue-check: NATS_URL is not set\n');
  process.exit(1);
}
if (!TRAINER_DEVICES.includes(device)) {
  process.stdout.write(
    `lathe-queue-check: LATHE_WORKER_DEVICE must be one of ${TRAINER_DEVICES.join(', ')}, got "${String(device)}"\n`,
  );
  process.exit(1);
}
try {
  const state = await readTrainingQueue(natsUrl, device);
  process.stdout.write(
    `${state.subject} (stream ${state.stream}, consumer ${state.consumer}): pending ${String(state.pending)}, in flight ${String(state.inFlight)}, waiting pulls ${String(state.waitingPulls)}\n`,
  );
} catch (error) {
  process.stdout.write(
    `lathe-queue-check: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
}
