// WatchJob: the job's history after a sequence, then its live events, until the job is terminal
// and every event was sent. Events come from the job_events table (polled), so a watcher that
// reconnects with its last sequence, to this or another replica, after a restart, misses nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import type { WatchJobRequest } from '@lathe/contracts/lathe/training/v1/training_service';
import { LatheError } from '@lathe/service-kit';
import { isTerminal } from '../store/job-store.js';
import type { TrainingDeps } from './training-deps.js';

/** Events read per query. */
const BATCH = 500;

/**
 * Yields the job's events with sequence > `afterSequence` in order, then waits for new ones;
 * returns after the event that made the job terminal. Ends with UNAVAILABLE when the service
 * stops (the client reconnects with its last sequence) and quietly when `signal` aborts.
 */
export async function* watchJob(
  deps: TrainingDeps,
  request: WatchJobRequest,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  const first = await deps.store.requireJob(request.jobId);
  if (request.afterSequence > first.lastSequence)
    throw LatheError.invalidArgument([
      {
        field: 'afterSequence',
        description: `${String(request.afterSequence)} is past the job's last event (${String(first.lastSequence)})`,
      },
    ]);
  const historyEnd = first.lastSequence;
  let after = request.afterSequence;
  const stop = AbortSignal.any([signal, deps.stopping]);
  if (request.skipPastProgress) {
    // The history part without progress events (state changes and checkpoints only).
    while (after < historyEnd) {
      const events = await deps.store.listEvents(request.jobId, after, BATCH, true);
      const history = events.filter((e) => e.sequence <= historyEnd);
      for (const e of history) {
        yield e;
        after = e.sequence;
      }
      if (history.length < BATCH) after = historyEnd;
    }
  }
  for (;;) {
    // One cheap read per poll; the events are read only when there are new ones.
    const position = await deps.store.jobPosition(request.jobId);
    const events =
      position.lastSequence > after ? await deps.store.listEvents(request.jobId, after, BATCH) : [];
    for (const e of events) {
      yield e;
      after = e.sequence;
    }
    if (events.length > 0) continue;
    if (isTerminal(position.state) && after >= position.lastSequence) return;
    try {
      await sleep(deps.watchPollMs, undefined, { signal: stop });
    } catch {
      if (deps.stopping.aborted)
        throw LatheError.unavailable(
          `the training service is stopping; watch job ${request.jobId} again after sequence ${String(after)}`,
        );
      return;
    }
  }
}
