// Putting jobs on the work queue: JobQueued with the job's stable event id (so a repeat is
// deduplicated by JetStream) and its trace context, and the outbox sweep that queues jobs whose
// first publish did not happen (bus down, service restarted in between).
import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Job } from '@lathe/contracts/lathe/training/v1/job';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { publishJobEvents } from '../events/training-events.js';
import type { TrainingDeps } from './training-deps.js';

/**
 * Publishes JobQueued for a QUEUED job on its device's queue and notes it published. A job that
 * is no longer QUEUED (cancelled meanwhile) is left alone.
 */
export async function enqueueJob(deps: TrainingDeps, jobId: string): Promise<void> {
  const job = await deps.store.requireJob(jobId);
  if (job.state !== JobState.JOB_STATE_QUEUED) return;
  const trace = await deps.store.traceOf(jobId);
  const eventId = await deps.store.queueEventId(jobId);
  const resume = await deps.store.latestCheckpoint(jobId);
  const device = job.spec?.resources?.device ?? 0;
  const queue = await deps.queues.queue(device);
  const headers: Record<string, string> = {};
  if (trace.traceparent !== '') headers['traceparent'] = trace.traceparent;
  if (trace.tracestate !== '') headers['tracestate'] = trace.tracestate;
  // Publish inside the job's trace, so the bus's PRODUCER span and headers carry it even when
  // this runs outside the CreateJob call (outbox sweep, after quantization).
  await context.with(propagation.extract(ROOT_CONTEXT, headers), () =>
    queue.enqueue(
      {
        eventId,
        occurredAt: new Date(),
        jobId,
        attempt: job.attempt + 1,
        resumeFromCheckpointId: resume?.id ?? '',
        trace,
        device,
      },
      { id: eventId },
    ),
  );
  await deps.store.markQueuePublished(jobId);
}

/** Whether a QUEUED job still waits for its NF4 base before it can be queued. */
export async function awaitsQuantization(deps: TrainingDeps, job: Job): Promise<boolean> {
  return (
    job.spec?.method === Method.METHOD_QLORA &&
    (await deps.store.quantizedBaseOf(job.id)) === undefined
  );
}

/**
 * Publishes events to the bus, logging (not throwing) when the bus refuses: the events are in the
 * job's history, which WatchJob serves, whatever happens to the bus.
 */
export async function publishQuietly(
  deps: TrainingDeps,
  events: readonly JobEvent[],
): Promise<void> {
  try {
    await publishJobEvents(deps.bus, events);
  } catch (error) {
    deps.log.warn('could not publish job events', {
      jobId: events[0]?.jobId,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
