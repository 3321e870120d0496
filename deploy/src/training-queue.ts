// The names the trainer pool's work queue has on NATS JetStream, as @lathe/bus derives them for
// the training worker's queue `training-<device>`: KEDA's scaler and the queue check need them.

/** Devices a trainer worker pulls jobs for (`LATHE_WORKER_DEVICE`). */
export const TRAINER_DEVICES = ['cpu', 'cuda'] as const;

/** One of {@link TRAINER_DEVICES}. */
export type TrainerDevice = (typeof TRAINER_DEVICES)[number];

/** The JetStream objects of one device's work queue. */
export interface TrainingQueueNames {
  /** Subject jobs are published on: `lathe.work.training-<device>`. */
  readonly subject: string;
  /** Work-queue stream holding them: `LATHE_WORK_TRAINING_<DEVICE>`. */
  readonly stream: string;
  /** The durable pull consumer every worker of the queue shares. */
  readonly consumer: string;
}

/** The subject, stream and consumer of the training work queue for `device`. */
export function trainingQueueNames(device: TrainerDevice): TrainingQueueNames {
  return {
    subject: `lathe.work.training-${device}`,
    stream: `LATHE_WORK_TRAINING_${device.toUpperCase()}`,
    consumer: 'workers',
  };
}
