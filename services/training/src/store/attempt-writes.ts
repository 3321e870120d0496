// The worker side of the job store: starting attempts and the fenced writes of a running attempt.
// JobStore's methods of the same names delegate here; their TSDoc describes the behaviour.
import { randomUUID } from 'node:crypto';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import {
  AttemptOutcome,
  type Checkpoint,
  type JobFailure,
  JobState,
  TrainingProgress,
} from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import type { SqlClient, SqlExecutor } from '@lathe/store';
import {
  appendEvent,
  checkpointIn,
  endJob,
  fenced,
  latestCheckpointIn,
  requireJob,
  selectJob,
  stateEvent,
  touchAttempt,
} from './job-history.js';
import { baseModelOf, datasetOf, isTerminal, jobStateName, specOf } from './job-rows.js';
import type {
  FencedWrite,
  FinishOutcome,
  FinishResult,
  NewCheckpoint,
  RefusalReason,
  RefusedAttempt,
  StartedAttempt,
  WorkerCapabilities,
} from './job-store-types.js';

const WORKER_STATES: ReadonlySet<JobState> = new Set([
  JobState.JOB_STATE_PREPARING,
  JobState.JOB_STATE_RUNNING,
  JobState.JOB_STATE_EVALUATING,
  JobState.JOB_STATE_REGISTERING,
]);

/** See {@link JobStore.beginAttempt}. */
export async function beginAttempt(
  sql: SqlClient,
  jobId: string,
  workerId: string,
  capabilities: WorkerCapabilities,
): Promise<StartedAttempt | RefusedAttempt> {
  const outcome = await sql.transaction(async (tx) => {
    const row = await selectJob(tx, jobId, true);
    if (row === undefined)
      return refused(
        'not_found',
        JobState.JOB_STATE_UNSPECIFIED,
        `job ${jobId} does not exist`,
        [],
      );
    const state = row.state as JobState;
    if (isTerminal(state))
      return refused('terminal', state, `job ${jobId} already ${jobStateName(state)}`, []);
    const now = new Date();
    const previous = row.attempt;
    let lostAttempt: number | undefined;
    const events: JobEvent[] = [];
    if (previous > 0 && (await endLostAttempt(tx, jobId, previous, now, 'the job was redelivered')))
      lostAttempt = previous;
    if (row.cancel_requested) {
      const why = row.cancel_reason === '' ? 'cancelled by a caller' : row.cancel_reason;
      events.push(await endJob(tx, row, 0, now, JobState.JOB_STATE_CANCELLED, why));
      return refused(
        'cancelled',
        JobState.JOB_STATE_CANCELLED,
        `job ${jobId} was cancelled`,
        events,
      );
    }
    if (previous + 1 > row.max_attempts) {
      const failure: JobFailure = {
        reason: 'max_attempts',
        message: `job ${jobId} used all ${String(row.max_attempts)} attempts`,
        retryable: false,
      };
      events.push(
        await endJob(tx, row, 0, now, JobState.JOB_STATE_FAILED, failure.message, failure),
      );
      return refused('max_attempts', JobState.JOB_STATE_FAILED, failure.message, events);
    }
    const attempt = previous + 1;
    const checkpoint = await latestCheckpointIn(tx, jobId);
    await tx.query(
      `INSERT INTO attempts (job_id, number, worker_id, capabilities, outcome,
           resumed_from_checkpoint_id, resumed_from_step, last_step, start_time, heartbeat_time)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $7, $8, $8)`,
      [
        jobId,
        attempt,
        workerId,
        JSON.stringify(capabilities),
        AttemptOutcome.ATTEMPT_OUTCOME_RUNNING,
        checkpoint?.id ?? '',
        checkpoint?.step ?? 0,
        now,
      ],
    );
    await tx.query(`UPDATE jobs SET attempt = $2, state = $3, update_time = $4 WHERE id = $1`, [
      jobId,
      attempt,
      JobState.JOB_STATE_PREPARING,
      now,
    ]);
    const reason =
      lostAttempt === undefined
        ? `attempt ${String(attempt)} taken by ${workerId}`
        : `attempt ${String(lostAttempt)} lost; attempt ${String(attempt)} taken by ${workerId}`;
    events.push(
      await stateEvent(tx, jobId, attempt, now, state, JobState.JOB_STATE_PREPARING, reason),
    );
    return { row, attempt, checkpoint, lostAttempt, events };
  });
  if ('started' in outcome) return outcome;
  const { row, attempt, checkpoint, lostAttempt, events } = outcome;
  return {
    started: true,
    attempt,
    job: await requireJob(sql, jobId),
    spec: specOf(row),
    baseModel: baseModelOf(row),
    ...(row.quantized_base === null ? {} : { quantizedBase: row.quantized_base }),
    dataset: datasetOf(row),
    ...(checkpoint === undefined ? {} : { resumeFrom: checkpoint }),
    trace: { traceparent: row.traceparent, tracestate: row.tracestate },
    ...(lostAttempt === undefined ? {} : { lostAttempt }),
    cancelRequested: false,
    events,
  };
}

/**
 * Ends `attempt` of a locked job LOST at `now` if it is still RUNNING: its worker stopped
 * heartbeating (killed, its node gone) without ending it. `consequence` says what became of the
 * job and follows "the worker stopped heartbeating; " in the attempt's failure message. True when
 * the attempt was running and is LOST now.
 */
export async function endLostAttempt(
  tx: SqlExecutor,
  jobId: string,
  attempt: number,
  now: Date,
  consequence: string,
): Promise<boolean> {
  const lost = await tx.query(
    `UPDATE attempts SET outcome = $3, end_time = $4, failure_message = $5
       WHERE job_id = $1 AND number = $2 AND outcome = $6`,
    [
      jobId,
      attempt,
      AttemptOutcome.ATTEMPT_OUTCOME_LOST,
      now,
      `the worker stopped heartbeating; ${consequence}`,
      AttemptOutcome.ATTEMPT_OUTCOME_RUNNING,
    ],
  );
  return lost.rowCount > 0;
}

/** See {@link JobStore.heartbeat}. */
export async function heartbeat(
  sql: SqlClient,
  jobId: string,
  attempt: number,
): Promise<FencedWrite> {
  return fenced(sql, jobId, attempt, async (tx, row) => {
    await tx.query('UPDATE attempts SET heartbeat_time = now() WHERE job_id = $1 AND number = $2', [
      jobId,
      attempt,
    ]);
    return { cancelRequested: row.cancel_requested, events: [] };
  });
}

/** See {@link JobStore.setState}. */
export async function setState(
  sql: SqlClient,
  jobId: string,
  attempt: number,
  state: JobState,
  reason = '',
): Promise<FencedWrite> {
  if (!WORKER_STATES.has(state))
    throw new RangeError(
      `setState takes PREPARING, RUNNING, EVALUATING or REGISTERING, not ${jobStateName(state)}; end attempts with finishAttempt`,
    );
  return fenced(sql, jobId, attempt, async (tx, row) => {
    const from = row.state as JobState;
    if (from === state) return { cancelRequested: row.cancel_requested, events: [] };
    const now = new Date();
    await tx.query(
      `UPDATE jobs SET state = $2::smallint, update_time = $3,
           start_time = CASE WHEN $2::smallint = ${String(JobState.JOB_STATE_RUNNING)} THEN COALESCE(start_time, $3) ELSE start_time END
         WHERE id = $1`,
      [jobId, state, now],
    );
    await touchAttempt(tx, jobId, attempt);
    const event = await stateEvent(tx, jobId, attempt, now, from, state, reason);
    return { cancelRequested: row.cancel_requested, events: [event] };
  });
}

/** See {@link JobStore.recordProgress}. */
export async function recordProgress(
  sql: SqlClient,
  jobId: string,
  attempt: number,
  progress: TrainingProgress,
): Promise<FencedWrite> {
  return fenced(sql, jobId, attempt, async (tx, row) => {
    const now = new Date();
    await tx.query(`UPDATE jobs SET progress = $2, update_time = $3 WHERE id = $1`, [
      jobId,
      TrainingProgress.encode(progress).finish(),
      now,
    ]);
    await tx.query(
      `UPDATE attempts SET last_step = $3, heartbeat_time = $4 WHERE job_id = $1 AND number = $2`,
      [jobId, attempt, progress.step, now],
    );
    const event = await appendEvent(tx, jobId, attempt, now, { $case: 'progress', progress });
    return { cancelRequested: row.cancel_requested, events: [event] };
  });
}

/** See {@link JobStore.recordCheckpoint}. */
export async function recordCheckpoint(
  sql: SqlClient,
  jobId: string,
  attempt: number,
  checkpoint: NewCheckpoint,
): Promise<FencedWrite & { checkpoint: Checkpoint }> {
  return fenced(sql, jobId, attempt, async (tx, row) => {
    const now = new Date();
    const id = randomUUID();
    await tx.query(
      `INSERT INTO checkpoints (id, job_id, attempt, step, epoch, artifact, loss, eval_loss, create_time)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)`,
      [
        id,
        jobId,
        attempt,
        checkpoint.step,
        checkpoint.epoch,
        JSON.stringify(checkpoint.artifact),
        checkpoint.loss,
        checkpoint.evalLoss ?? null,
        now,
      ],
    );
    await touchAttempt(tx, jobId, attempt);
    const saved = await checkpointIn(tx, id);
    const event = await appendEvent(tx, jobId, attempt, now, {
      $case: 'checkpoint',
      checkpoint: saved,
    });
    return { cancelRequested: row.cancel_requested, events: [event], checkpoint: saved };
  });
}

/** See {@link JobStore.finishAttempt}. */
export async function finishAttempt(
  sql: SqlClient,
  jobId: string,
  attempt: number,
  outcome: FinishOutcome,
  details: { result?: ModelVersionRef; failure?: JobFailure } = {},
): Promise<FinishResult> {
  if (outcome === 'succeeded' && details.result === undefined)
    throw new RangeError('finishAttempt(succeeded) needs the registered result');
  if (outcome === 'failed' && details.failure === undefined)
    throw new RangeError('finishAttempt(failed) needs the failure');
  const { requeue, events } = await fenced(sql, jobId, attempt, async (tx, row) => {
    const now = new Date();
    const end = async (attemptOutcome: AttemptOutcome, message: string): Promise<void> => {
      await tx.query(
        `UPDATE attempts SET outcome = $3, end_time = $4, heartbeat_time = $4, failure_message = $5
           WHERE job_id = $1 AND number = $2`,
        [jobId, attempt, attemptOutcome, now, message],
      );
    };
    if (outcome === 'succeeded') {
      await end(AttemptOutcome.ATTEMPT_OUTCOME_SUCCEEDED, '');
      await tx.query('UPDATE jobs SET result = $2::jsonb WHERE id = $1', [
        jobId,
        JSON.stringify(details.result),
      ]);
      const event = await endJob(
        tx,
        row,
        attempt,
        now,
        JobState.JOB_STATE_SUCCEEDED,
        `registered ${details.result?.name ?? ''}@${String(details.result?.version ?? 0)}`,
      );
      return { requeue: false, events: [event] };
    }
    if (outcome === 'cancelled') {
      await end(AttemptOutcome.ATTEMPT_OUTCOME_CANCELLED, '');
      const why = row.cancel_reason === '' ? 'cancelled' : row.cancel_reason;
      const event = await endJob(tx, row, attempt, now, JobState.JOB_STATE_CANCELLED, why);
      return { requeue: false, events: [event] };
    }
    const failure = details.failure as JobFailure;
    await end(AttemptOutcome.ATTEMPT_OUTCOME_FAILED, failure.message);
    if (failure.retryable && attempt < row.max_attempts && !row.cancel_requested) {
      await tx.query(`UPDATE jobs SET state = $2, update_time = $3 WHERE id = $1`, [
        jobId,
        JobState.JOB_STATE_QUEUED,
        now,
      ]);
      const event = await stateEvent(
        tx,
        jobId,
        attempt,
        now,
        row.state,
        JobState.JOB_STATE_QUEUED,
        `attempt ${String(attempt)} failed, retrying: ${failure.message}`,
      );
      return { requeue: true, events: [event] };
    }
    const event = row.cancel_requested
      ? await endJob(tx, row, attempt, now, JobState.JOB_STATE_CANCELLED, row.cancel_reason)
      : await endJob(tx, row, attempt, now, JobState.JOB_STATE_FAILED, failure.message, failure);
    return { requeue: false, events: [event] };
  });
  return { job: await requireJob(sql, jobId), requeue, events };
}

function refused(
  reason: RefusalReason,
  state: JobState,
  message: string,
  events: JobEvent[],
): RefusedAttempt {
  return { started: false, reason, state, message, events };
}
