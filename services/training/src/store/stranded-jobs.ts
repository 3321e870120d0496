// The store side of jobs stranded on the work queue: JetStream gave up on their message (or lost
// it) before any trainer could start them. JobStore's methods of the same names delegate here.
import {
  AttemptOutcome,
  type Job,
  type JobFailure,
  JobState,
} from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import type { SqlClient } from '@lathe/store';
import { endLostAttempt } from './attempt-writes.js';
import { endJob, lockJob } from './job-history.js';
import { isTerminal, type JobRow, toJob } from './job-rows.js';

/**
 * What {@link failUnstartedJob} did: `failed` (the job is FAILED now, `events` appended; its
 * `lostAttempt`, if any, was RUNNING without heartbeats and is LOST now), or left it alone because
 * it already ended (`terminal`) or a trainer holds it (`held`: its current attempt is RUNNING and
 * heartbeating).
 */
export type UnstartedJobOutcome =
  | { readonly outcome: 'failed'; readonly events: JobEvent[]; readonly lostAttempt?: number }
  | { readonly outcome: 'terminal' | 'held'; readonly events: [] };

/** See {@link JobStore.failUnstartedJob}. */
export async function failUnstartedJob(
  sql: SqlClient,
  jobId: string,
  failure: JobFailure,
  staleHeartbeatBefore: Date,
): Promise<UnstartedJobOutcome> {
  return sql.transaction(async (tx): Promise<UnstartedJobOutcome> => {
    const row = await lockJob(tx, jobId);
    const state = row.state as JobState;
    if (isTerminal(state)) return { outcome: 'terminal', events: [] };
    const now = new Date();
    let lostAttempt: number | undefined;
    if (state !== JobState.JOB_STATE_QUEUED && row.attempt > 0) {
      const current = await tx.query<{ outcome: number; heartbeat_time: Date }>(
        'SELECT outcome, heartbeat_time FROM attempts WHERE job_id = $1 AND number = $2',
        [jobId, row.attempt],
      );
      const attempt = current.rows[0];
      if (attempt?.outcome === AttemptOutcome.ATTEMPT_OUTCOME_RUNNING) {
        // A live trainer heartbeats, and may still finish the job: leave it to that trainer.
        if (attempt.heartbeat_time >= staleHeartbeatBefore) return { outcome: 'held', events: [] };
        // Its trainer died on the last delivery: no other trainer will ever take the job over.
        await endLostAttempt(tx, jobId, row.attempt, now, 'no delivery was left to retry the job');
        lostAttempt = row.attempt;
      }
    }
    const event = await endJob(
      tx,
      row,
      0,
      now,
      JobState.JOB_STATE_FAILED,
      failure.message,
      failure,
    );
    return {
      outcome: 'failed',
      events: [event],
      ...(lostAttempt === undefined ? {} : { lostAttempt }),
    };
  });
}

/** See {@link JobStore.queuedJobsUnchangedSince}. */
export async function queuedJobsUnchangedSince(sql: SqlClient, since: Date): Promise<Job[]> {
  const r = await sql.query<JobRow>(
    `SELECT * FROM jobs WHERE state = $1 AND queued_publish_time IS NOT NULL AND update_time < $2
     ORDER BY create_time`,
    [JobState.JOB_STATE_QUEUED, since],
  );
  return r.rows.map(toJob);
}
