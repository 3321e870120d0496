// The training service's metadata (schema `training`): jobs, attempts, checkpoints and the
// per-job event history. Used by the service (create, list, cancel, watch) and by the trainers,
// whose every write is fenced by its attempt number (see attempt-writes.ts).
import { randomUUID } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { TraceContext } from '@lathe/contracts/lathe/common/v1/trace_context';
import {
  type Checkpoint,
  type Job,
  type JobAttempt,
  type JobFailure,
  JobState,
  type TrainingProgress,
} from '@lathe/contracts/lathe/training/v1/job';
import { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Device, JobSpec } from '@lathe/contracts/lathe/training/v1/job_spec';
import { LatheError } from '@lathe/service-kit';
import { isUniqueViolation, type SqlClient, type SqlValue } from '@lathe/store';
import {
  beginAttempt,
  finishAttempt,
  heartbeat,
  recordCheckpoint,
  recordProgress,
  setState,
} from './attempt-writes.js';
import {
  appendEvent,
  endJob,
  jobNotFound,
  latestCheckpointIn,
  lockJob,
  selectJob,
  stateEvent,
  traceIdOf,
} from './job-history.js';
import {
  type AttemptRow,
  type CheckpointRow,
  isTerminal,
  jobStateName,
  type JobRow,
  toAttempt,
  toCheckpoint,
  toJob,
} from './job-rows.js';
import type {
  FencedWrite,
  FinishOutcome,
  FinishResult,
  JobCursor,
  JobFilter,
  NewCheckpoint,
  NewJob,
  RefusedAttempt,
  StartedAttempt,
  WorkerCapabilities,
} from './job-store-types.js';
import {
  failUnstartedJob,
  queuedJobsUnchangedSince,
  type UnstartedJobOutcome,
} from './stranded-jobs.js';

export type { UnstartedJobOutcome } from './stranded-jobs.js';
export { isTerminal, TERMINAL_STATES } from './job-rows.js';
export { jobNotFound, traceIdOf } from './job-history.js';
export {
  DEFAULT_MAX_ATTEMPTS,
  isStaleAttemptError,
  StaleAttemptError,
  type FencedWrite,
  type FinishOutcome,
  type FinishResult,
  type JobCursor,
  type JobFilter,
  type NewCheckpoint,
  type NewJob,
  type RefusalReason,
  type RefusedAttempt,
  type StartedAttempt,
  type WorkerCapabilities,
} from './job-store-types.js';

/**
 * Jobs, attempts, checkpoints and job events on PostgreSQL or PGlite. Every method that changes a
 * job runs in one transaction holding the job row's lock (`SELECT ... FOR UPDATE`), and appends
 * the matching events with the next sequence numbers, so the history has no gaps and watchers
 * can resume from any sequence.
 *
 * Worker methods take the attempt number that {@link beginAttempt} returned and throw
 * {@link StaleAttemptError} when it is no longer the job's running attempt (a later attempt took
 * over, the attempt already finished, or the job ended).
 */
export class JobStore {
  constructor(private readonly sql: SqlClient) {}

  // ---------------------------------------------------------------- service side

  /**
   * Records a new job in state QUEUED (not yet published on the work queue: see
   * {@link markQueuePublished}) with its first event (UNSPECIFIED -> QUEUED). With an idempotency
   * key already used by the same request, returns that job (`created: false`); by another
   * request, fails ABORTED (IDEMPOTENCY_KEY_REUSED).
   */
  async createJob(input: NewJob): Promise<{ job: Job; created: boolean; events: JobEvent[] }> {
    if (input.idempotencyKey !== '') {
      const first = await this.byIdempotencyKey(input.idempotencyKey, input.requestSha256);
      if (first !== undefined) return { job: first, created: false, events: [] };
    }
    const id = randomUUID();
    const now = new Date();
    try {
      const events = await this.sql.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO jobs (id, display_name, creator, method, device, state, spec,
             base_model, base_model_version, base_model_sha256,
             dataset, dataset_version, dataset_sha256, labels, idempotency_key, request_sha256,
             traceparent, tracestate, trace_id, max_attempts, queue_event_id,
             create_time, update_time, quantized_base)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb,
             NULLIF($15, ''), $16, $17, $18, $19, $20, $21, $22, $22, $23::jsonb)`,
          [
            id,
            input.displayName,
            input.creator,
            input.spec.method,
            input.spec.resources?.device ?? Device.DEVICE_UNSPECIFIED,
            JobState.JOB_STATE_QUEUED,
            JobSpec.encode(input.spec).finish(),
            input.baseModel.name,
            input.baseModel.version,
            input.baseModel.manifestSha256,
            input.dataset.dataset,
            input.dataset.version,
            input.dataset.manifestSha256,
            JSON.stringify(input.labels),
            input.idempotencyKey,
            input.requestSha256,
            input.trace.traceparent,
            input.trace.tracestate,
            traceIdOf(input.trace.traceparent),
            input.maxAttempts,
            randomUUID(),
            now,
            input.quantizedBase === undefined ? null : JSON.stringify(input.quantizedBase),
          ],
        );
        return [
          await appendEvent(tx, id, 0, now, {
            $case: 'stateChange',
            stateChange: {
              from: JobState.JOB_STATE_UNSPECIFIED,
              to: JobState.JOB_STATE_QUEUED,
              reason: 'job created',
              failure: undefined,
            },
          }),
        ];
      });
      const job = await this.getJob(id);
      if (job === undefined) throw new Error(`job ${id} vanished after its creation`);
      return { job, created: true, events };
    } catch (error) {
      // Two concurrent retries with one key: the loser returns the winner's job.
      if (input.idempotencyKey !== '' && isUniqueViolation(error)) {
        const first = await this.byIdempotencyKey(input.idempotencyKey, input.requestSha256);
        if (first !== undefined) return { job: first, created: false, events: [] };
      }
      throw error;
    }
  }

  private async byIdempotencyKey(key: string, requestSha256: string): Promise<Job | undefined> {
    const r = await this.sql.query<JobRow>('SELECT * FROM jobs WHERE idempotency_key = $1', [key]);
    const row = r.rows[0];
    if (row === undefined) return undefined;
    if (row.request_sha256 !== requestSha256)
      throw LatheError.aborted(
        `idempotency key "${key}" already created job ${row.id} from another request`,
        {
          reason: ErrorReason.ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
          metadata: { idempotencyKey: key, jobId: row.id },
        },
      );
    return toJob(row);
  }

  /** One job, or undefined. */
  async getJob(jobId: string): Promise<Job | undefined> {
    const row = await selectJob(this.sql, jobId);
    return row === undefined ? undefined : toJob(row);
  }

  /** One job, or NOT_FOUND (JOB_NOT_FOUND) naming it. */
  async requireJob(jobId: string): Promise<Job> {
    const job = await this.getJob(jobId);
    if (job === undefined) throw jobNotFound(jobId);
    return job;
  }

  /**
   * Jobs matching `filter`, newest first (create time, then id), at most `limit`, after `cursor`
   * (the last job of the previous page).
   */
  async listJobs(filter: JobFilter, limit: number, cursor?: JobCursor): Promise<Job[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const add = (clause: (p: string) => string, value: SqlValue): void => {
      params.push(value);
      where.push(clause(`$${String(params.length)}`));
    };
    if (filter.states !== undefined && filter.states.length > 0)
      add((p) => `state = ANY(${p}::smallint[])`, [...filter.states]);
    if (filter.methods !== undefined && filter.methods.length > 0)
      add((p) => `method = ANY(${p}::smallint[])`, [...filter.methods]);
    if (filter.baseModel !== undefined && filter.baseModel !== '')
      add((p) => `base_model = ${p}`, filter.baseModel);
    if (filter.dataset !== undefined && filter.dataset !== '')
      add((p) => `dataset = ${p}`, filter.dataset);
    if (filter.creator !== undefined && filter.creator !== '')
      add((p) => `creator = ${p}`, filter.creator);
    if (filter.labels !== undefined && Object.keys(filter.labels).length > 0)
      add((p) => `labels @> ${p}::jsonb`, JSON.stringify(filter.labels));
    if (filter.createdAfter !== undefined) add((p) => `create_time >= ${p}`, filter.createdAfter);
    if (filter.createdBefore !== undefined) add((p) => `create_time < ${p}`, filter.createdBefore);
    if (cursor !== undefined) {
      params.push(cursor.createTime, cursor.id);
      const n = params.length;
      where.push(`(create_time, id) < ($${String(n - 1)}, $${String(n)})`);
    }
    params.push(limit);
    const r = await this.sql.query<JobRow>(
      `SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY create_time DESC, id DESC LIMIT $${String(params.length)}`,
      params,
    );
    return r.rows.map(toJob);
  }

  /**
   * Cancels a job. QUEUED (no attempt running): CANCELLED at once. PREPARING to REGISTERING:
   * sets the cancel flag and appends a state change (same state, reason "cancel requested"); the
   * worker sees it in its next heartbeat or progress write and ends the attempt CANCELLED.
   * CANCELLED already: unchanged. SUCCEEDED or FAILED: FAILED_PRECONDITION
   * (JOB_ALREADY_TERMINAL). Unknown: NOT_FOUND.
   */
  async requestCancel(jobId: string, reason: string): Promise<{ job: Job; events: JobEvent[] }> {
    const events = await this.sql.transaction(async (tx) => {
      const row = await lockJob(tx, jobId);
      const state = row.state as JobState;
      if (state === JobState.JOB_STATE_CANCELLED) return [];
      if (isTerminal(state))
        throw LatheError.failedPrecondition(
          `job ${jobId} already ${jobStateName(state)}; it cannot be cancelled`,
          [
            {
              type: 'JOB_STATE',
              subject: `jobs/${jobId}`,
              description: `is ${jobStateName(state)}`,
            },
          ],
          { reason: ErrorReason.ERROR_REASON_JOB_ALREADY_TERMINAL },
        );
      const why = reason === '' ? 'cancelled by a caller' : reason;
      const now = new Date();
      if (state === JobState.JOB_STATE_QUEUED) {
        await tx.query(
          `UPDATE jobs SET state = $2, cancel_requested = true, cancel_reason = $3, end_time = $4,
             update_time = $4 WHERE id = $1`,
          [jobId, JobState.JOB_STATE_CANCELLED, reason, now],
        );
        return [await stateEvent(tx, jobId, 0, now, state, JobState.JOB_STATE_CANCELLED, why)];
      }
      if (row.cancel_requested) return [];
      await tx.query(
        `UPDATE jobs SET cancel_requested = true, cancel_reason = $2, update_time = $3 WHERE id = $1`,
        [jobId, reason, now],
      );
      return [await stateEvent(tx, jobId, 0, now, state, state, `cancel requested: ${why}`)];
    });
    return { job: await this.requireJob(jobId), events };
  }

  /** Records the NF4 base a QLoRA job trains on (quantized by the service before queueing). */
  async setQuantizedBase(jobId: string, ref: ModelVersionRef): Promise<void> {
    const r = await this.sql.query(
      `UPDATE jobs SET quantized_base = $2::jsonb, update_time = now() WHERE id = $1`,
      [jobId, JSON.stringify(ref)],
    );
    if (r.rowCount === 0) throw jobNotFound(jobId);
  }

  /**
   * Ends a job that has no running attempt as FAILED (e.g. its base could not be quantized);
   * no-op on a terminal job. Returns the events appended.
   */
  async failQueuedJob(jobId: string, failure: JobFailure): Promise<JobEvent[]> {
    return this.sql.transaction(async (tx) => {
      const row = await lockJob(tx, jobId);
      const state = row.state as JobState;
      if (isTerminal(state)) return [];
      const now = new Date();
      return [await endJob(tx, row, 0, now, JobState.JOB_STATE_FAILED, failure.message, failure)];
    });
  }

  /**
   * Ends as FAILED with `failure` a job no trainer could start (its work message is exhausted or
   * gone): a QUEUED job, or one whose current attempt is no longer RUNNING, or RUNNING without a
   * heartbeat since `staleHeartbeatBefore` (that attempt ends LOST in the same transaction).
   * Leaves a terminal job (`terminal`) and one a heartbeating trainer holds (`held`) unchanged, so
   * calling it again, or from every replica, is harmless.
   */
  async failUnstartedJob(
    jobId: string,
    failure: JobFailure,
    staleHeartbeatBefore: Date,
  ): Promise<UnstartedJobOutcome> {
    return failUnstartedJob(this.sql, jobId, failure, staleHeartbeatBefore);
  }

  /**
   * QUEUED jobs whose JobQueued message was published and which have not changed since `since`,
   * oldest first: the candidates whose message may have been lost.
   */
  async queuedJobsUnchangedSince(since: Date): Promise<Job[]> {
    return queuedJobsUnchangedSince(this.sql, since);
  }

  /** The event id of a job's JobQueued message (stable, so republishing is deduplicated). */
  async queueEventId(jobId: string): Promise<string> {
    const row = await selectJob(this.sql, jobId);
    if (row === undefined) throw jobNotFound(jobId);
    return row.queue_event_id;
  }

  /** Notes that the job's JobQueued message reached the work queue. */
  async markQueuePublished(jobId: string): Promise<void> {
    await this.sql.query(`UPDATE jobs SET queued_publish_time = now() WHERE id = $1`, [jobId]);
  }

  /** QUEUED jobs whose JobQueued message was never published (outbox), oldest first. */
  async unpublishedJobs(): Promise<Job[]> {
    const r = await this.sql.query<JobRow>(
      `SELECT * FROM jobs WHERE state = $1 AND queued_publish_time IS NULL ORDER BY create_time`,
      [JobState.JOB_STATE_QUEUED],
    );
    return r.rows.map(toJob);
  }

  /** Trace context stored with a job at creation. */
  async traceOf(jobId: string): Promise<TraceContext> {
    const row = await selectJob(this.sql, jobId);
    if (row === undefined) throw jobNotFound(jobId);
    return { traceparent: row.traceparent, tracestate: row.tracestate };
  }

  /** The QLoRA base recorded by {@link setQuantizedBase}, if any. */
  async quantizedBaseOf(jobId: string): Promise<ModelVersionRef | undefined> {
    const row = await selectJob(this.sql, jobId);
    if (row === undefined) throw jobNotFound(jobId);
    return row.quantized_base ?? undefined;
  }

  /**
   * A job's events with sequence > `afterSequence`, in order, at most `limit`. With
   * `skipProgress`, progress events are left out (state changes and checkpoints kept).
   */
  async listEvents(
    jobId: string,
    afterSequence: number,
    limit = 500,
    skipProgress = false,
  ): Promise<JobEvent[]> {
    const r = await this.sql.query<{ event: Uint8Array }>(
      `SELECT event FROM job_events WHERE job_id = $1 AND sequence > $2 AND ($4 = false OR kind <> 2)
       ORDER BY sequence LIMIT $3`,
      [jobId, afterSequence, limit, skipProgress],
    );
    return r.rows.map((row) => JobEvent.decode(row.event));
  }

  /** Where a job's history ends and its state: the cheap read a watcher polls. */
  async jobPosition(jobId: string): Promise<{ lastSequence: number; state: JobState }> {
    const r = await this.sql.query<{ last_sequence: bigint; state: number }>(
      'SELECT last_sequence, state FROM jobs WHERE id = $1',
      [jobId],
    );
    const row = r.rows[0];
    if (row === undefined) throw jobNotFound(jobId);
    return { lastSequence: Number(row.last_sequence), state: row.state as JobState };
  }

  /** A job's attempts, oldest first. */
  async listAttempts(jobId: string): Promise<JobAttempt[]> {
    const r = await this.sql.query<AttemptRow>(
      'SELECT * FROM attempts WHERE job_id = $1 ORDER BY number',
      [jobId],
    );
    return r.rows.map(toAttempt);
  }

  /** A job's checkpoints, oldest first, `limit` from `offset`. */
  async listCheckpoints(jobId: string, offset = 0, limit = 1000): Promise<Checkpoint[]> {
    const r = await this.sql.query<CheckpointRow>(
      `SELECT * FROM checkpoints WHERE job_id = $1 ORDER BY create_time, step, id
       OFFSET $2 LIMIT $3`,
      [jobId, offset, limit],
    );
    return r.rows.map(toCheckpoint);
  }

  /** How many checkpoints a job has. */
  async countCheckpoints(jobId: string): Promise<number> {
    const r = await this.sql.query<{ n: bigint }>(
      'SELECT count(*) AS n FROM checkpoints WHERE job_id = $1',
      [jobId],
    );
    return Number(r.rows[0]?.n ?? 0n);
  }

  // ---------------------------------------------------------------- worker side

  /**
   * Starts the next attempt of a job for `workerId`: increments the job's attempt number (the
   * fencing token), marks a previous RUNNING attempt LOST, inserts the attempt row (resuming
   * from the latest checkpoint, if any), sets the job PREPARING and appends the events.
   *
   * Refuses (`started: false`, no attempt created) when the job does not exist, is terminal,
   * has a pending cancel (the job ends CANCELLED here, its checkpoints kept), or would exceed its
   * maximum attempts (the job ends FAILED with reason `max_attempts`). The worker then acks its
   * work message and moves on.
   */
  async beginAttempt(
    jobId: string,
    workerId: string,
    capabilities: WorkerCapabilities,
  ): Promise<StartedAttempt | RefusedAttempt> {
    return beginAttempt(this.sql, jobId, workerId, capabilities);
  }

  /** Records that the attempt is alive. Fenced. */
  async heartbeat(jobId: string, attempt: number): Promise<FencedWrite> {
    return heartbeat(this.sql, jobId, attempt);
  }

  /**
   * Moves the job between the worker's states (PREPARING, RUNNING, EVALUATING, REGISTERING) and
   * appends the state change (nothing when already there). The first RUNNING sets the job's
   * start time. Terminal states go through {@link finishAttempt}. Fenced.
   */
  async setState(
    jobId: string,
    attempt: number,
    state: JobState,
    reason = '',
  ): Promise<FencedWrite> {
    return setState(this.sql, jobId, attempt, state, reason);
  }

  /**
   * Stores the latest training figures on the job and appends a progress event (workers send
   * them at most every few seconds). Also counts as a heartbeat. Fenced.
   */
  async recordProgress(
    jobId: string,
    attempt: number,
    progress: TrainingProgress,
  ): Promise<FencedWrite> {
    return recordProgress(this.sql, jobId, attempt, progress);
  }

  /**
   * Records a checkpoint the worker already stored in the artifact store, and appends its event.
   * Fenced: a stale attempt's checkpoint is refused (and must not be used by anyone).
   */
  async recordCheckpoint(
    jobId: string,
    attempt: number,
    checkpoint: NewCheckpoint,
  ): Promise<FencedWrite & { checkpoint: Checkpoint }> {
    return recordCheckpoint(this.sql, jobId, attempt, checkpoint);
  }

  /**
   * Ends the attempt. `succeeded` (needs `result`, the registered model version): job
   * SUCCEEDED. `cancelled`: job CANCELLED, checkpoints kept. `failed` (needs `failure`): when
   * `failure.retryable` and attempts are left, the attempt is FAILED and the job goes back to
   * QUEUED (`requeue: true`: nak the work message); otherwise the job is FAILED with it. Fenced.
   */
  async finishAttempt(
    jobId: string,
    attempt: number,
    outcome: FinishOutcome,
    details: { result?: ModelVersionRef; failure?: JobFailure } = {},
  ): Promise<FinishResult> {
    return finishAttempt(this.sql, jobId, attempt, outcome, details);
  }

  /** Whether a caller asked to cancel the job (not fenced; a cheap read). */
  async isCancelRequested(jobId: string): Promise<boolean> {
    const r = await this.sql.query<{ cancel_requested: boolean }>(
      'SELECT cancel_requested FROM jobs WHERE id = $1',
      [jobId],
    );
    const row = r.rows[0];
    if (row === undefined) throw jobNotFound(jobId);
    return row.cancel_requested;
  }

  /** The job's most recent checkpoint (highest step, then latest), or undefined. */
  async latestCheckpoint(jobId: string): Promise<Checkpoint | undefined> {
    return latestCheckpointIn(this.sql, jobId);
  }
}
