// Statements shared by the job store's writes: reading and locking a job row, appending to its
// event history, ending it, and the attempt fence.
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import {
  AttemptOutcome,
  type Checkpoint,
  type JobFailure,
} from '@lathe/contracts/lathe/training/v1/job';
import { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { LatheError } from '@lathe/service-kit';
import type { SqlClient, SqlExecutor } from '@lathe/store';
import { type CheckpointRow, isTerminal, type JobRow, toCheckpoint, toJob } from './job-rows.js';
import { StaleAttemptError } from './job-store-types.js';
import type { Job, JobState } from '@lathe/contracts/lathe/training/v1/job';

/** The body of a JobEvent (its oneof). */
export type EventBody = NonNullable<JobEvent['event']>;

/** `job_events.kind` per event case (progress events can be skipped cheaply). */
export const EVENT_KIND: Record<EventBody['$case'], number> = {
  stateChange: 1,
  progress: 2,
  checkpoint: 3,
};

/** The job row, locked for the transaction when `lock`; undefined when absent. */
export async function selectJob(
  ex: SqlExecutor,
  jobId: string,
  lock = false,
): Promise<JobRow | undefined> {
  const r = await ex.query<JobRow>(`SELECT * FROM jobs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [
    jobId,
  ]);
  return r.rows[0];
}

/** The job row locked for the transaction, or NOT_FOUND. */
export async function lockJob(tx: SqlExecutor, jobId: string): Promise<JobRow> {
  const row = await selectJob(tx, jobId, true);
  if (row === undefined) throw jobNotFound(jobId);
  return row;
}

/** One job, or NOT_FOUND (JOB_NOT_FOUND) naming it. */
export async function requireJob(ex: SqlExecutor, jobId: string): Promise<Job> {
  const row = await selectJob(ex, jobId);
  if (row === undefined) throw jobNotFound(jobId);
  return toJob(row);
}

/**
 * Runs `fn` in a transaction holding the job's lock, if `attempt` is the job's current attempt,
 * still running, on a job that has not ended; else throws {@link StaleAttemptError}.
 */
export async function fenced<T>(
  sql: SqlClient,
  jobId: string,
  attempt: number,
  fn: (tx: SqlExecutor, row: JobRow) => Promise<T>,
): Promise<T> {
  return sql.transaction(async (tx) => {
    const row = await lockJob(tx, jobId);
    const state = row.state as JobState;
    if (attempt !== row.attempt)
      throw new StaleAttemptError(
        jobId,
        attempt,
        row.attempt,
        state,
        attempt < row.attempt ? 'a later attempt took the job over' : 'no such attempt yet',
      );
    if (isTerminal(state))
      throw new StaleAttemptError(jobId, attempt, row.attempt, state, 'the job already ended');
    const a = await tx.query<{ outcome: number }>(
      'SELECT outcome FROM attempts WHERE job_id = $1 AND number = $2',
      [jobId, attempt],
    );
    if (a.rows[0]?.outcome !== AttemptOutcome.ATTEMPT_OUTCOME_RUNNING)
      throw new StaleAttemptError(jobId, attempt, row.attempt, state, 'the attempt already ended');
    return fn(tx, row);
  });
}

/** Refreshes the attempt's heartbeat time (every fenced write shows the worker alive). */
export async function touchAttempt(tx: SqlExecutor, jobId: string, attempt: number): Promise<void> {
  await tx.query('UPDATE attempts SET heartbeat_time = now() WHERE job_id = $1 AND number = $2', [
    jobId,
    attempt,
  ]);
}

/** Moves a locked job to a terminal state, with end time, failure and the state change. */
export async function endJob(
  tx: SqlExecutor,
  row: JobRow,
  attempt: number,
  now: Date,
  to: JobState,
  reason: string,
  failure?: JobFailure,
): Promise<JobEvent> {
  await tx.query(
    `UPDATE jobs SET state = $2, failure = $3::jsonb, end_time = $4, update_time = $4 WHERE id = $1`,
    [row.id, to, failure === undefined ? null : JSON.stringify(failure), now],
  );
  return stateEvent(tx, row.id, attempt, now, row.state, to, reason, failure);
}

/** NOT_FOUND (JOB_NOT_FOUND) naming the job. */
export function jobNotFound(jobId: string): LatheError {
  return LatheError.notFound('job', jobId, {
    reason: ErrorReason.ERROR_REASON_JOB_NOT_FOUND,
    metadata: { jobId },
  });
}

/** The 32-hex trace id of a W3C traceparent, or "" when there is none. */
export function traceIdOf(traceparent: string): string {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent);
  return m?.[1] ?? '';
}

/** Appends a state change. */
export async function stateEvent(
  tx: SqlExecutor,
  jobId: string,
  attempt: number,
  now: Date,
  from: JobState,
  to: JobState,
  reason: string,
  failure?: JobFailure,
): Promise<JobEvent> {
  return appendEvent(tx, jobId, attempt, now, {
    $case: 'stateChange',
    stateChange: { from, to, reason, failure },
  });
}

/** Appends one event with the job's next sequence number (the job row must be locked or new). */
export async function appendEvent(
  tx: SqlExecutor,
  jobId: string,
  attempt: number,
  now: Date,
  body: EventBody,
): Promise<JobEvent> {
  const r = await tx.query<{ last_sequence: bigint }>(
    'UPDATE jobs SET last_sequence = last_sequence + 1 WHERE id = $1 RETURNING last_sequence',
    [jobId],
  );
  const sequence = Number(r.rows[0]?.last_sequence ?? 0n);
  const event: JobEvent = { sequence, jobId, attempt, occurredAt: now, event: body };
  await tx.query(
    `INSERT INTO job_events (job_id, sequence, attempt, kind, event, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [jobId, sequence, attempt, EVENT_KIND[body.$case], JobEvent.encode(event).finish(), now],
  );
  return event;
}

/** One checkpoint by id. */
export async function checkpointIn(ex: SqlExecutor, id: string): Promise<Checkpoint> {
  const r = await ex.query<CheckpointRow>('SELECT * FROM checkpoints WHERE id = $1', [id]);
  const row = r.rows[0];
  if (row === undefined) throw new Error(`checkpoint ${id} vanished`);
  return toCheckpoint(row);
}

/** The job's checkpoint with the highest step (the latest among equals), or undefined. */
export async function latestCheckpointIn(
  ex: SqlExecutor,
  jobId: string,
): Promise<Checkpoint | undefined> {
  const r = await ex.query<CheckpointRow>(
    `SELECT * FROM checkpoints WHERE job_id = $1 ORDER BY step DESC, create_time DESC LIMIT 1`,
    [jobId],
  );
  return r.rows[0] === undefined ? undefined : toCheckpoint(r.rows[0]);
}
