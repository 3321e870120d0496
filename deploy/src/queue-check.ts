// Reads the state of the trainer pool's work queue on JetStream: the figures KEDA scales on.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { trainingQueueNames, type TrainerDevice } from './training-queue.js';

/** The queue's backlog as the broker reports it for the shared consumer. */
export interface TrainingQueueState {
  /** The subject, for messages. */
  readonly subject: string;
  /** Stream name. */
  readonly stream: string;
  /** Consumer name. */
  readonly consumer: string;
  /** Jobs not yet delivered to any worker (the consumer's `num_pending`: KEDA's lag). */
  readonly pending: number;
  /** Jobs delivered and not yet acknowledged: being trained, or waiting for redelivery. */
  readonly inFlight: number;
  /** Pull requests waiting for a job: idle worker slots. */
  readonly waitingPulls: number;
}

/**
 * Connects to `natsUrl` and reads the work-queue consumer of `device`. Throws when the broker
 * cannot be reached in `timeoutMs` or the stream or consumer does not exist (no worker or
 * training service has declared the queue yet).
 */
export async function readTrainingQueue(
  natsUrl: string,
  device: TrainerDevice,
  timeoutMs = 5000,
): Promise<TrainingQueueState> {
  const names = trainingQueueNames(device);
  const connection = await connect({
    servers: natsUrl,
    name: 'lathe-queue-check',
    timeout: timeoutMs,
    reconnect: false,
  });
  try {
    const manager = await jetstreamManager(connection, { timeout: timeoutMs });
    const info = await manager.consumers.info(names.stream, names.consumer);
    return {
      ...names,
      pending: info.num_pending,
      inFlight: info.num_ack_pending,
      waitingPulls: info.num_waiting,
    };
  } finally {
    await connection.close();
  }
}
