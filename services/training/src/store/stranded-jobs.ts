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
import { endJob, lockJob } from './job-history.js';
import { isTerminal, type JobRow, toJob } from './job-rows.js';

/**
 * What {@link failUnstartedJob} did: `failed` (the job is FAILED now, `events` appended), or left
 * it alone because it already ended (`terminal`) or a trainer holds it (`held`: its current
 * attempt is RUNNING).
 */
export type UnstartedJobOutcome =
  | { readonly outcome: 'failed'; readonly events: JobEvent[] }
  | { readonly outcome: 'terminal' | 'held'; readonly events: [] };

/** See {@link JobStore.failUnstartedJob}. */
export async function failUnstartedJob(
  sql: SqlClient,
  jobId: string,
  failure: JobFailure,
): Promise<UnstartedJobOutcome> {
  return sql.transaction(async (tx): Promise<UnstartedJobOutcome> => {
    const row = await lockJob(tx, jobId);
    const state = row.state as JobState;
    if (isTerminal(state)) return { outcome: 'terminal', events: [] };
    if (state !== JobState.JOB_STATE_QUEUED && row.attempt > 0) {
      const current = await tx.query<{ outcome: number }>(
        'SELECT outcome FROM attempts WHERE job_id = $1 AND number = $2',
        [jobId, row.attempt],
      );
      if (current.rows[0]?.outcome === AttemptOutcome.ATTEMPT_OUTCOME_RUNNING)
        return { outcome: 'held', events: [] };
    }
    const event = await endJob(
      tx,
      row,
      0,
      new Date(),
      JobState.JOB_STATE_FAILED,
      failure.message,
      failure,
    );
    return { outcome: 'failed', events: [event] };
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
