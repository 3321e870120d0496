// The training service's metadata (schema `training`): jobs, attempts, checkpoints and the
// per-job event history. Used by the service (create, list, cancel, watch) and by the trainers,
// whose every write is fenced by its attempt number.
import { randomUUID } from 'node:crypto';
import type { ArtifactRef } from '@lathe/contracts/lathe/common/v1/artifact';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { TraceContext } from '@lathe/contracts/lathe/common/v1/trace_context';
import {
  AttemptOutcome,
  type Checkpoint,
  type Job,
  type JobAttempt,
  type JobFailure,
  JobState,
  jobStateToJSON,
  TrainingProgress,
} from '@lathe/contracts/lathe/training/v1/job';
import { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Device, JobSpec, type Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { LatheError } from '@lathe/service-kit';
import { isUniqueViolation, type SqlClient, type SqlExecutor, type SqlValue } from '@lathe/store';
import {
  type AttemptRow,
  baseModelOf,
  type CheckpointRow,
  datasetOf,
  isTerminal,
  type JobRow,
  specOf,
  toAttempt,
  toCheckpoint,
  toJob,
} from './job-rows.js';

export { isTerminal, TERMINAL_STATES } from './job-rows.js';

/** Attempts a job gets when its creator does not say (env `LATHE_TRAINING_MAX_ATTEMPTS`). */
export const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * A write from an attempt that is no longer the job's current one (another worker took the job
 * over), or to a job that already ended. The writer must stop: it may not write progress,
 * checkpoints or results, register anything or ack its work message.
 */
export class StaleAttemptError extends Error {
  override readonly name = 'StaleAttemptError';
  /** The job written to. */
  readonly jobId: string;
  /** The attempt number the writer presented. */
  readonly attempt: number;
  /** The job's current attempt number. */
  readonly currentAttempt: number;
  /** The job's state when the write was refused. */
  readonly state: JobState;

  constructor(
    jobId: string,
    attempt: number,
    currentAttempt: number,
    state: JobState,
    why: string,
  ) {
    super(
      `job ${jobId}: attempt ${String(attempt)} is stale (current attempt ${String(currentAttempt)}, state ${stateName(state)}): ${why}`,
    );
    this.jobId = jobId;
    this.attempt = attempt;
    this.currentAttempt = currentAttempt;
    this.state = state;
  }
}

/** Whether `e` is a {@link StaleAttemptError} (also across module copies). */
export function isStaleAttemptError(e: unknown): e is StaleAttemptError {
  return e instanceof Error && e.name === 'StaleAttemptError';
}

/** What a worker reports about itself when it takes a job (device, memory, provider, ...). */
export type WorkerCapabilities = Readonly<Record<string, string | number | boolean>>;

/** A job about to be recorded by CreateJob, its references already resolved. */
export interface NewJob {
  /** The spec as submitted (after defaults were checked, not filled in). */
  readonly spec: JobSpec;
  /** Name for people. */
  readonly displayName: string;
  /** Subject of the caller's token, or "" without auth. */
  readonly creator: string;
  /** User labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** The base model version the spec's ref resolved to. */
  readonly baseModel: ModelVersionRef;
  /** The dataset version the spec's ref resolved to. */
  readonly dataset: DatasetVersionRef;
  /** CreateJob's idempotency key; "" for none. */
  readonly idempotencyKey: string;
  /** Digest of the request, compared when the key is reused. */
  readonly requestSha256: string;
  /** W3C trace context of the CreateJob span; the worker's spans join it. */
  readonly trace: TraceContext;
  /** Attempts before the job fails with reason `max_attempts`. */
  readonly maxAttempts: number;
}

/** Filters of {@link JobStore.listJobs}; they combine with AND, empty ones match everything. */
export interface JobFilter {
  readonly states?: readonly JobState[];
  readonly methods?: readonly Method[];
  /** Base model name. */
  readonly baseModel?: string;
  /** Dataset name. */
  readonly dataset?: string;
  /** Every label must be present with this value. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Creator (token subject). */
  readonly creator?: string;
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
}

/** Keyset position of a listing: the last job of the previous page. */
export interface JobCursor {
  readonly createTime: Date;
  readonly id: string;
}

/** What a worker gets from {@link JobStore.beginAttempt} when it may run the job. */
export interface StartedAttempt {
  readonly started: true;
  /** This attempt's number: the fencing token to present on every later write. */
  readonly attempt: number;
  /** The job as it stands now (state PREPARING). */
  readonly job: Job;
  /** The spec as submitted. */
  readonly spec: JobSpec;
  /** The resolved base model version. */
  readonly baseModel: ModelVersionRef;
  /** For QLoRA: the NF4 registry model to load instead of `baseModel`; unset otherwise. */
  readonly quantizedBase?: ModelVersionRef;
  /** The resolved dataset version. */
  readonly dataset: DatasetVersionRef;
  /** The latest checkpoint of any earlier attempt, to resume from; unset to start afresh. */
  readonly resumeFrom?: Checkpoint;
  /** Trace context of CreateJob; the attempt's spans join this trace. */
  readonly trace: TraceContext;
  /** The attempt this one replaced (marked LOST), when a worker died or stalled. */
  readonly lostAttempt?: number;
  /** Whether a cancel is pending (always false: a pending cancel refuses the attempt instead). */
  readonly cancelRequested: boolean;
  /** Events appended (for publishing on the bus). */
  readonly events: JobEvent[];
}

/** Why {@link JobStore.beginAttempt} refused to start an attempt. */
export type RefusalReason = 'not_found' | 'terminal' | 'cancelled' | 'max_attempts';

/** {@link JobStore.beginAttempt} refused: the worker acks (terminates) its message and moves on. */
export interface RefusedAttempt {
  readonly started: false;
  readonly reason: RefusalReason;
  /** The job's state after the refusal (UNSPECIFIED when the job does not exist). */
  readonly state: JobState;
  /** Explanation naming the job. */
  readonly message: string;
  /** Events appended (the job ended CANCELLED or FAILED here), for publishing. */
  readonly events: JobEvent[];
}

/** A checkpoint a worker stored in the artifact store. */
export interface NewCheckpoint {
  readonly step: number;
  readonly epoch: number;
  readonly artifact: ArtifactRef;
  readonly loss: number;
  readonly evalLoss?: number | undefined;
}

/** How an attempt ended, from the worker's side. */
export type FinishOutcome = 'succeeded' | 'failed' | 'cancelled';

/** What {@link JobStore.finishAttempt} did. */
export interface FinishResult {
  /** The job afterwards. */
  readonly job: Job;
  /**
   * True when a retryable failure left attempts: the job is QUEUED again and the worker must
   * NOT ack its work message but nak it, so JetStream redelivers it to a worker.
   */
  readonly requeue: boolean;
  /** Events appended, for publishing. */
  readonly events: JobEvent[];
}

/** What a fenced write returns besides its events. */
export interface FencedWrite {
  /** Whether a caller asked to cancel the job: the worker stops at its next step. */
  readonly cancelRequested: boolean;
  /** Events appended, for publishing. */
  readonly events: JobEvent[];
}

const WORKER_STATES: ReadonlySet<JobState> = new Set([
  JobState.JOB_STATE_PREPARING,
  JobState.JOB_STATE_RUNNING,
  JobState.JOB_STATE_EVALUATING,
  JobState.JOB_STATE_REGISTERING,
]);

function stateName(state: JobState): string {
  return jobStateToJSON(state).replace(/^JOB_STATE_/, '');
}

type EventBody = NonNullable<JobEvent['event']>;

const EVENT_KIND: Record<EventBody['$case'], number> = {
  stateChange: 1,
  progress: 2,
  checkpoint: 3,
};

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
             create_time, update_time)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb,
             NULLIF($15, ''), $16, $17, $18, $19, $20, $21, $22, $22)`,
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
    const row = await this.row(this.sql, jobId);
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
      const row = await this.lockJob(tx, jobId);
      const state = row.state as JobState;
      if (state === JobState.JOB_STATE_CANCELLED) return [];
      if (isTerminal(state))
        throw LatheError.failedPrecondition(
          `job ${jobId} already ${stateName(state)}; it cannot be cancelled`,
          [{ type: 'JOB_STATE', subject: `jobs/${jobId}`, description: `is ${stateName(state)}` }],
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
      const row = await this.lockJob(tx, jobId);
      const state = row.state as JobState;
      if (isTerminal(state)) return [];
      const now = new Date();
      return [
        await this.endJob(tx, row, 0, now, JobState.JOB_STATE_FAILED, failure.message, failure),
      ];
    });
  }

  /** The event id of a job's JobQueued message (stable, so republishing is deduplicated). */
  async queueEventId(jobId: string): Promise<string> {
    const row = await this.row(this.sql, jobId);
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
    const row = await this.row(this.sql, jobId);
    if (row === undefined) throw jobNotFound(jobId);
    return { traceparent: row.traceparent, tracestate: row.tracestate };
  }

  /** The QLoRA base recorded by {@link setQuantizedBase}, if any. */
  async quantizedBaseOf(jobId: string): Promise<ModelVersionRef | undefined> {
    const row = await this.row(this.sql, jobId);
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
    const outcome = await this.sql.transaction(async (tx) => {
      const row = await this.row(tx, jobId, true);
      if (row === undefined)
        return refused(
          'not_found',
          JobState.JOB_STATE_UNSPECIFIED,
          `job ${jobId} does not exist`,
          [],
        );
      const state = row.state as JobState;
      if (isTerminal(state))
        return refused('terminal', state, `job ${jobId} already ${stateName(state)}`, []);
      const now = new Date();
      const previous = row.attempt;
      let lostAttempt: number | undefined;
      const events: JobEvent[] = [];
      if (previous > 0) {
        const lost = await tx.query(
          `UPDATE attempts SET outcome = $3, end_time = $4,
             failure_message = 'the worker stopped heartbeating; the job was redelivered'
           WHERE job_id = $1 AND number = $2 AND outcome = $5`,
          [
            jobId,
            previous,
            AttemptOutcome.ATTEMPT_OUTCOME_LOST,
            now,
            AttemptOutcome.ATTEMPT_OUTCOME_RUNNING,
          ],
        );
        if (lost.rowCount > 0) lostAttempt = previous;
      }
      if (row.cancel_requested) {
        const why = row.cancel_reason === '' ? 'cancelled by a caller' : row.cancel_reason;
        events.push(await this.endJob(tx, row, 0, now, JobState.JOB_STATE_CANCELLED, why));
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
          await this.endJob(tx, row, 0, now, JobState.JOB_STATE_FAILED, failure.message, failure),
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
      job: await this.requireJob(jobId),
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

  /** Records that the attempt is alive. Fenced. */
  async heartbeat(jobId: string, attempt: number): Promise<FencedWrite> {
    return this.fenced(jobId, attempt, async (tx, row) => {
      await tx.query(
        'UPDATE attempts SET heartbeat_time = now() WHERE job_id = $1 AND number = $2',
        [jobId, attempt],
      );
      return { cancelRequested: row.cancel_requested, events: [] };
    });
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
    if (!WORKER_STATES.has(state))
      throw new RangeError(
        `setState takes PREPARING, RUNNING, EVALUATING or REGISTERING, not ${stateName(state)}; end attempts with finishAttempt`,
      );
    return this.fenced(jobId, attempt, async (tx, row) => {
      const from = row.state as JobState;
      if (from === state) return { cancelRequested: row.cancel_requested, events: [] };
      const now = new Date();
      await tx.query(
        `UPDATE jobs SET state = $2::smallint, update_time = $3,
           start_time = CASE WHEN $2::smallint = ${String(JobState.JOB_STATE_RUNNING)} THEN COALESCE(start_time, $3) ELSE start_time END
         WHERE id = $1`,
        [jobId, state, now],
      );
      await this.touchAttempt(tx, jobId, attempt);
      const event = await stateEvent(tx, jobId, attempt, now, from, state, reason);
      return { cancelRequested: row.cancel_requested, events: [event] };
    });
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
    return this.fenced(jobId, attempt, async (tx, row) => {
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

  /**
   * Records a checkpoint the worker already stored in the artifact store, and appends its event.
   * Fenced: a stale attempt's checkpoint is refused (and must not be used by anyone).
   */
  async recordCheckpoint(
    jobId: string,
    attempt: number,
    checkpoint: NewCheckpoint,
  ): Promise<FencedWrite & { checkpoint: Checkpoint }> {
    return this.fenced(jobId, attempt, async (tx, row) => {
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
      await this.touchAttempt(tx, jobId, attempt);
      const saved = await checkpointIn(tx, id);
      const event = await appendEvent(tx, jobId, attempt, now, {
        $case: 'checkpoint',
        checkpoint: saved,
      });
      return { cancelRequested: row.cancel_requested, events: [event], checkpoint: saved };
    });
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
    if (outcome === 'succeeded' && details.result === undefined)
      throw new RangeError('finishAttempt(succeeded) needs the registered result');
    if (outcome === 'failed' && details.failure === undefined)
      throw new RangeError('finishAttempt(failed) needs the failure');
    const { requeue, events } = await this.fenced(jobId, attempt, async (tx, row) => {
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
        const event = await this.endJob(
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
        const event = await this.endJob(tx, row, attempt, now, JobState.JOB_STATE_CANCELLED, why);
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
        ? await this.endJob(tx, row, attempt, now, JobState.JOB_STATE_CANCELLED, row.cancel_reason)
        : await this.endJob(
            tx,
            row,
            attempt,
            now,
            JobState.JOB_STATE_FAILED,
            failure.message,
            failure,
          );
      return { requeue: false, events: [event] };
    });
    return { job: await this.requireJob(jobId), requeue, events };
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

  // ---------------------------------------------------------------- internals

  private async row(ex: SqlExecutor, jobId: string, lock = false): Promise<JobRow | undefined> {
    const r = await ex.query<JobRow>(
      `SELECT * FROM jobs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [jobId],
    );
    return r.rows[0];
  }

  private async lockJob(tx: SqlExecutor, jobId: string): Promise<JobRow> {
    const row = await this.row(tx, jobId, true);
    if (row === undefined) throw jobNotFound(jobId);
    return row;
  }

  /** Runs `fn` in a transaction holding the job's lock, if `attempt` is its running attempt. */
  private async fenced<T>(
    jobId: string,
    attempt: number,
    fn: (tx: SqlExecutor, row: JobRow) => Promise<T>,
  ): Promise<T> {
    return this.sql.transaction(async (tx) => {
      const row = await this.lockJob(tx, jobId);
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
        throw new StaleAttemptError(
          jobId,
          attempt,
          row.attempt,
          state,
          'the attempt already ended',
        );
      return fn(tx, row);
    });
  }

  private async touchAttempt(tx: SqlExecutor, jobId: string, attempt: number): Promise<void> {
    await tx.query('UPDATE attempts SET heartbeat_time = now() WHERE job_id = $1 AND number = $2', [
      jobId,
      attempt,
    ]);
  }

  /** Moves a locked job to a terminal state, with end time, failure and the state change. */
  private async endJob(
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
}

function refused(
  reason: RefusalReason,
  state: JobState,
  message: string,
  events: JobEvent[],
): RefusedAttempt {
  return { started: false, reason, state, message, events };
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

async function stateEvent(
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
async function appendEvent(
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

async function checkpointIn(ex: SqlExecutor, id: string): Promise<Checkpoint> {
  const r = await ex.query<CheckpointRow>('SELECT * FROM checkpoints WHERE id = $1', [id]);
  const row = r.rows[0];
  if (row === undefined) throw new Error(`checkpoint ${id} vanished`);
  return toCheckpoint(row);
}

async function latestCheckpointIn(ex: SqlExecutor, jobId: string): Promise<Checkpoint | undefined> {
  const r = await ex.query<CheckpointRow>(
    `SELECT * FROM checkpoints WHERE job_id = $1 ORDER BY step DESC, create_time DESC LIMIT 1`,
    [jobId],
  );
  return r.rows[0] === undefined ? undefined : toCheckpoint(r.rows[0]);
}
