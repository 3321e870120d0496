// A WatchJob client that survives the service going away: it reconnects with the last sequence
// it saw, so the caller gets every event of the job exactly once, in order, until the job ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import type { TrainingServiceClient } from '@lathe/contracts/lathe/training/v1/training_service';
import { fromServiceError } from '@lathe/service-kit';

/** Options of {@link followJob}. */
export interface FollowJobOptions {
  /** Start after this sequence (0: the whole history). */
  readonly afterSequence?: number;
  /** Leave progress events out of the history part (live progress still comes). */
  readonly skipPastProgress?: boolean;
  /** Bearer token. */
  readonly token?: string;
  /** Stops following (the generator returns). */
  readonly signal?: AbortSignal;
  /** First delay before reconnecting, ms; doubles up to 5000. Default 250. */
  readonly retryDelayMs?: number;
  /** Give up after this long without a working stream, ms. Default 300000. */
  readonly giveUpAfterMs?: number;
  /** Called before each reconnect with the error that ended the stream. */
  readonly onReconnect?: (error: Error, afterSequence: number) => void;
}

/** Codes after which the stream is opened again: the service restarted, moved or timed out. */
const RECONNECT: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.CANCELLED,
  GrpcStatus.DEADLINE_EXCEEDED,
]);

/** Whether the stream broke in a way another stream can get past. */
function broken(error: ServiceError): boolean {
  // A connection reset mid-stream surfaces as INTERNAL "Received RST_STREAM ..."; any other
  // INTERNAL is the service's answer and is not retried.
  return (
    RECONNECT.has(error.code) ||
    (error.code === GrpcStatus.INTERNAL && /RST_STREAM/.test(error.details))
  );
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

/**
 * Yields the job's events after `afterSequence`, in order and without repeats, reconnecting
 * with the last sequence when the stream breaks, until the stream ends normally (the job is
 * terminal and its last event was sent). Other errors (NOT_FOUND, PERMISSION_DENIED, ...) are
 * thrown as LatheErrors.
 */
export async function* followJob(
  client: TrainingServiceClient,
  jobId: string,
  options: FollowJobOptions = {},
): AsyncGenerator<JobEvent> {
  let after = options.afterSequence ?? 0;
  let delay = options.retryDelayMs ?? 250;
  let brokenSince: number | undefined;
  for (;;) {
    const metadata = new Metadata();
    if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
    const call = client.watchJob(
      { jobId, afterSequence: after, skipPastProgress: options.skipPastProgress ?? false },
      metadata,
    );
    const abort = (): void => call.cancel();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      for await (const message of call as AsyncIterable<{ event?: JobEvent }>) {
        const event = message.event;
        if (event === undefined || event.sequence <= after) continue;
        brokenSince = undefined;
        delay = options.retryDelayMs ?? 250;
        after = event.sequence;
        yield event;
      }
      return;
    } catch (error) {
      if (options.signal?.aborted === true) return;
      if (!isServiceError(error) || !broken(error)) {
        throw isServiceError(error) ? fromServiceError(error) : error;
      }
      brokenSince ??= Date.now();
      if (Date.now() - brokenSince > (options.giveUpAfterMs ?? 300_000))
        throw fromServiceError(error);
      options.onReconnect?.(error, after);
      try {
        await sleep(
          delay,
          undefined,
          options.signal === undefined ? {} : { signal: options.signal },
        );
      } catch {
        return;
      }
      delay = Math.min(delay * 2, 5000);
    } finally {
      options.signal?.removeEventListener('abort', abort);
      call.cancel();
    }
  }
}
