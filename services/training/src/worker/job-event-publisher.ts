// Publishes the job events a trainer's store writes produced, as the training service's bus
// events (lathe.training.job_state_changed, job_progress, checkpoint_written).
import { defineEvent, type EventBus } from '@lathe/bus';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import {
  CheckpointWritten,
  JobProgress,
  JobStateChanged,
} from '@lathe/contracts/lathe/training/v1/events';

/** lathe.training.job_state_changed */
export const JobStateChangedEvent = defineEvent('training', 'job_state_changed', JobStateChanged);
/** lathe.training.job_progress */
export const JobProgressEvent = defineEvent('training', 'job_progress', JobProgress);
/** lathe.training.checkpoint_written */
export const CheckpointWrittenEvent = defineEvent(
  'training',
  'checkpoint_written',
  CheckpointWritten,
);

/** The event types a trainer publishes. */
export const WORKER_EVENT_TYPES = [JobStateChangedEvent, JobProgressEvent, CheckpointWrittenEvent];

/**
 * Publishes each stored job event as its bus event, in order. The bus event id is derived from
 * the job and sequence, so publishing the same history twice is deduplicated.
 */
export async function publishJobEvents(bus: EventBus, events: readonly JobEvent[]): Promise<void> {
  for (const e of events) {
    const id = `training-job-${e.jobId}-${String(e.sequence)}`;
    const occurredAt = e.occurredAt ?? new Date();
    const body = e.event;
    if (body?.$case === 'stateChange') {
      await bus.publish(
        JobStateChangedEvent,
        {
          eventId: id,
          occurredAt,
          jobId: e.jobId,
          attempt: e.attempt,
          change: body.stateChange,
          sequence: e.sequence,
        },
        { id },
      );
    } else if (body?.$case === 'progress') {
      await bus.publish(
        JobProgressEvent,
        { eventId: id, occurredAt, jobId: e.jobId, attempt: e.attempt, progress: body.progress },
        { id },
      );
    } else if (body?.$case === 'checkpoint') {
      await bus.publish(
        CheckpointWrittenEvent,
        { eventId: id, occurredAt, checkpoint: body.checkpoint },
        { id },
      );
    }
  }
}
