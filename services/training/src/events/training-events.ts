// What the training service publishes: job events on lathe.training.*, and JobQueued on the
// per-device work queues lathe.work.training-<device>.
import { defineEvent, type EventBus, type WorkQueue } from '@lathe/bus';
import { JobCreated, JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { Device } from '@lathe/contracts/lathe/training/v1/job_spec';
import { WORKER_EVENT_TYPES } from '../worker/job-event-publisher.js';

export { publishJobEvents } from '../worker/job-event-publisher.js';

/** `lathe.training.job_created`: a job was accepted. */
export const jobCreatedEvent = defineEvent('training', 'job_created', JobCreated);

/** Every event type of the service, declared at start so a bad stream fails start-up. */
export const trainingEvents = [jobCreatedEvent, ...WORKER_EVENT_TYPES];

/** Work-queue settings; the trainers must use the same (the last to declare the queue wins). */
export interface WorkQueueSettings {
  /** A job no trainer heartbeats for this long goes to another trainer. */
  readonly ackWaitMs: number;
  /** Deliveries before JetStream stops redelivering a job. */
  readonly maxDeliveries: number;
}

/**
 * Queue name of a device: the work-queue subject is `lathe.work.training-<device>` (the trainers
 * take from the same name).
 */
export function trainingQueueName(device: 'cpu' | 'cuda'): string {
  return `training-${device}`;
}

/** `cpu` or `cuda`: the queue a job's device selects (unset means cpu). */
export function deviceQueue(device: Device): 'cpu' | 'cuda' {
  return device === Device.DEVICE_CUDA ? 'cuda' : 'cpu';
}

/** The per-device work queues, declared on first use. */
export class TrainingQueues {
  private readonly queues = new Map<string, Promise<WorkQueue<JobQueued>>>();

  constructor(
    private readonly bus: EventBus,
    private readonly settings: WorkQueueSettings,
  ) {}

  /** The queue of `device` (`lathe.work.training-cpu` or `-cuda`). */
  queue(device: Device): Promise<WorkQueue<JobQueued>> {
    const name = trainingQueueName(deviceQueue(device));
    let q = this.queues.get(name);
    if (q === undefined) {
      q = this.bus.workQueue({ name, codec: JobQueued, ...this.settings });
      this.queues.set(name, q);
      q.catch(() => this.queues.delete(name));
    }
    return q;
  }
}
