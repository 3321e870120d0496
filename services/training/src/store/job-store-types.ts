// The types of the job store's interface: what CreateJob records, what workers get and send, and
// the error a stale attempt gets.
import type { ArtifactRef } from '@lathe/contracts/lathe/common/v1/artifact';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { TraceContext } from '@lathe/contracts/lathe/common/v1/trace_context';
import type { Checkpoint, Job, JobState } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import type { JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { jobStateName } from './job-rows.js';

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
      `job ${jobId}: attempt ${String(attempt)} is stale (current attempt ${String(currentAttempt)}, state ${jobStateName(state)}): ${why}`,
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
  /** QLoRA: the NF4 base when it is known at creation (an NF4 base, or a given quantized base). */
  readonly quantizedBase?: ModelVersionRef | undefined;
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
