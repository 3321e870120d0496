// Ending jobs no trainer could start: JetStream gave up on their work message (every delivery
// crashed or was given back before an attempt was recorded), or the message is gone. Without
// this such a job would stay QUEUED forever and its watchers would wait forever.
import type { JobFailure } from '@lathe/contracts/lathe/training/v1/job';
import type { ExhaustedWorkMessage, WorkQueueWatch } from '../events/work-queue-monitor.js';
import { publishQuietly } from './job-queueing.js';
import type { TrainingDeps } from './training-deps.js';

/** Failure reason of a job whose work message JetStream stopped delivering. */
export const DELIVERIES_EXHAUSTED = 'DELIVERIES_EXHAUSTED';
/** Failure reason of a QUEUED job whose work message is no longer on its queue. */
export const WORK_MESSAGE_LOST = 'WORK_MESSAGE_LOST';

/** Settings of {@link StrandedJobs}. */
export interface StrandedJobSettings {
  /** A QUEUED job unchanged this long whose work message is gone is failed, ms. */
  readonly queuedLostAfterMs: number;
  /**
   * A RUNNING attempt without a heartbeat for this long no longer holds a job whose work message
   * is exhausted: its trainer is taken for dead, the attempt ends LOST and the job fails, ms.
   */
  readonly staleAttemptMs: number;
}

/**
 * Reacts to the work queues' MAX_DELIVERIES advisories and sweeps for jobs stranded while the
 * service was down. Every path goes through the store's `failUnstartedJob`, which leaves a job a
 * heartbeating trainer holds alone, so replicas may all react to the same advisory.
 */
export class StrandedJobs {
  constructor(
    private readonly deps: TrainingDeps,
    private readonly watch: WorkQueueWatch,
    private readonly settings: StrandedJobSettings,
  ) {}

  /** Starts reacting to advisories as they are published. */
  listen(): void {
    this.watch.onExhausted((message) => {
      this.onExhausted(message).catch((error: unknown) =>
        this.deps.log.warn('could not handle an exhausted work message', {
          stream: message.stream,
          sequence: message.streamSequence,
          error: errorText(error),
        }),
      );
    });
  }

  /**
   * Handles the advisories captured while nobody listened, then fails QUEUED jobs unchanged for
   * `queuedLostAfterMs` whose message is no longer stored on any work queue.
   */
  async sweep(): Promise<void> {
    for (const message of await this.watch.capturedExhausted()) {
      if (this.deps.stopping.aborted) return;
      await this.onExhausted(message);
    }
    const since = new Date(Date.now() - this.settings.queuedLostAfterMs);
    // Jobs first, messages second: a job older than `since` was published before the listing.
    const candidates = await this.deps.store.queuedJobsUnchangedSince(since);
    if (candidates.length === 0) return;
    const stored = new Set((await this.watch.storedWorkMessages()).map((m) => m.job.jobId));
    for (const job of candidates) {
      if (this.deps.stopping.aborted || stored.has(job.id)) continue;
      await this.fail(job.id, {
        reason: WORK_MESSAGE_LOST,
        message: `no worker could start job ${job.id}: its work message is no longer on the queue`,
        retryable: false,
      });
    }
  }

  /**
   * One exhausted work message: its job fails unless a trainer holds it. The message (useless
   * now) and the captured advisory are removed, except while a trainer holds the job: the next
   * sweep looks again, in case that attempt ends without the job or its trainer stops
   * heartbeating (it died on the last delivery: nothing else would ever end the job).
   */
  async onExhausted(message: ExhaustedWorkMessage): Promise<void> {
    const queued = await this.watch.workMessage(message.stream, message.streamSequence);
    let held = false;
    if (queued !== undefined) {
      held =
        (await this.fail(queued.jobId, {
          reason: DELIVERIES_EXHAUSTED,
          message: `no worker could start job ${queued.jobId} after ${String(message.deliveries)} deliveries`,
          retryable: false,
        })) === 'held';
      if (!held) await this.watch.removeWorkMessage(message.stream, message.streamSequence);
    }
    if (!held && message.advisorySequence !== undefined)
      await this.watch.forgetExhausted(message.advisorySequence);
  }

  private async fail(jobId: string, failure: JobFailure): Promise<'failed' | 'terminal' | 'held'> {
    const staleHeartbeatBefore = new Date(Date.now() - this.settings.staleAttemptMs);
    const ended = await this.deps.store.failUnstartedJob(jobId, failure, staleHeartbeatBefore);
    if (ended.outcome === 'failed') {
      this.deps.log.warn('failed a job no worker could start', {
        jobId,
        reason: failure.reason,
        message: failure.message,
        ...(ended.lostAttempt === undefined ? {} : { lostAttempt: ended.lostAttempt }),
      });
      await publishQuietly(this.deps, ended.events);
    }
    return ended.outcome;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
