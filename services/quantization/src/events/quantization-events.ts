import { defineEvent, type EventBus } from '@lathe/bus';
import {
  QuantizationCompleted,
  QuantizationFailed,
} from '@lathe/contracts/lathe/quantization/v1/events';
import type { QuantizationJobRecord } from '../domain/quantization-job.js';
import { specOut } from '../domain/quant-spec.js';

/** lathe.quantization.quantization_completed: a job succeeded and its result is registered. */
export const QuantizationCompletedEvent = defineEvent(
  'quantization',
  'quantization_completed',
  QuantizationCompleted,
);
/** lathe.quantization.quantization_failed: a job failed. */
export const QuantizationFailedEvent = defineEvent(
  'quantization',
  'quantization_failed',
  QuantizationFailed,
);

/** Every event type the service publishes, for declaring streams at start. */
export const QUANTIZATION_EVENTS = [QuantizationCompletedEvent, QuantizationFailedEvent];

/**
 * Publishes the end of jobs, after it is committed. Ids derive from the job, so a publish
 * retried (or repeated after a crash) is dropped by the stream's dedupe. The trace context is
 * whatever is active: the job runs in the context its request carried.
 */
export class QuantizationEvents {
  constructor(private readonly bus: EventBus) {}

  /** QuantizationCompleted for a SUCCEEDED job. */
  async completed(job: QuantizationJobRecord): Promise<void> {
    if (job.result === undefined || job.figures === undefined)
      throw new Error(`job ${job.id} has no result to announce`);
    const id = `quantization-completed-${job.id}`;
    await this.bus.publish(
      QuantizationCompletedEvent,
      {
        eventId: id,
        occurredAt: job.endTime ?? new Date(),
        jobId: job.id,
        source: { ...job.source },
        result: { ...job.result },
        spec: specOut(job.config),
        bitsPerParameter: job.figures.bitsPerParameter,
        bytesBefore: job.figures.bytesBefore,
        bytesAfter: job.figures.bytesAfter,
      },
      { id },
    );
  }

  /** QuantizationFailed for a FAILED job. */
  async failed(job: QuantizationJobRecord): Promise<void> {
    const id = `quantization-failed-${job.id}`;
    await this.bus.publish(
      QuantizationFailedEvent,
      {
        eventId: id,
        occurredAt: job.endTime ?? new Date(),
        jobId: job.id,
        source: { ...job.source },
        failure: job.failure ?? { reason: 'INTERNAL', message: 'unknown failure' },
      },
      { id },
    );
  }
}
