// Rows of the training schema and their mapping to the contract's messages.
import type { ArtifactRef } from '@lathe/contracts/lathe/common/v1/artifact';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import {
  Checkpoint,
  Job,
  JobAttempt,
  JobFailure,
  JobState,
  jobStateToJSON,
  TrainingProgress,
} from '@lathe/contracts/lathe/training/v1/job';
import { JobSpec } from '@lathe/contracts/lathe/training/v1/job_spec';

/** A `jobs` row as the store reads it. */
export interface JobRow {
  [key: string]: unknown;
  id: string;
  display_name: string;
  creator: string;
  method: number;
  device: number;
  state: number;
  spec: Uint8Array;
  base_model: string;
  base_model_version: number;
  base_model_sha256: string;
  dataset: string;
  dataset_version: number;
  dataset_sha256: string;
  quantized_base: ModelVersionRef | null;
  labels: Record<string, string>;
  idempotency_key: string | null;
  request_sha256: string;
  traceparent: string;
  tracestate: string;
  trace_id: string;
  attempt: number;
  max_attempts: number;
  queue_event_id: string;
  queued_publish_time: Date | null;
  cancel_requested: boolean;
  cancel_reason: string;
  failure: JobFailure | null;
  progress: Uint8Array | null;
  result: ModelVersionRef | null;
  last_sequence: bigint;
  create_time: Date;
  start_time: Date | null;
  end_time: Date | null;
  update_time: Date;
}

/** An `attempts` row. */
export interface AttemptRow {
  [key: string]: unknown;
  job_id: string;
  number: number;
  worker_id: string;
  capabilities: Record<string, unknown>;
  outcome: number;
  resumed_from_checkpoint_id: string;
  resumed_from_step: bigint;
  last_step: bigint;
  start_time: Date;
  end_time: Date | null;
  heartbeat_time: Date;
  failure_message: string;
}

/** A `checkpoints` row. */
export interface CheckpointRow {
  [key: string]: unknown;
  id: string;
  job_id: string;
  attempt: number;
  step: bigint;
  epoch: number;
  artifact: ArtifactRef;
  loss: number;
  eval_loss: number | null;
  create_time: Date;
}

/** States after which nothing about a job changes. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

/** Whether `state` is SUCCEEDED, FAILED or CANCELLED. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** The job's spec, decoded from its row. */
export function specOf(row: JobRow): JobSpec {
  return JobSpec.decode(row.spec);
}

/** The resolved base model of a row. */
export function baseModelOf(row: JobRow): ModelVersionRef {
  return {
    name: row.base_model,
    version: row.base_model_version,
    manifestSha256: row.base_model_sha256,
  };
}

/** The resolved dataset version of a row. */
export function datasetOf(row: JobRow): DatasetVersionRef {
  return { dataset: row.dataset, version: row.dataset_version, manifestSha256: row.dataset_sha256 };
}

/** The contract's Job from a row. */
export function toJob(row: JobRow): Job {
  return Job.fromPartial({
    id: row.id,
    displayName: row.display_name,
    spec: specOf(row),
    resolvedBaseModel: baseModelOf(row),
    resolvedDataset: datasetOf(row),
    state: row.state,
    ...(row.failure === null ? {} : { failure: JobFailure.fromPartial(row.failure) }),
    attempt: row.attempt,
    ...(row.progress === null ? {} : { progress: TrainingProgress.decode(row.progress) }),
    ...(row.result === null ? {} : { result: row.result }),
    lastSequence: Number(row.last_sequence),
    labels: row.labels,
    traceId: row.trace_id,
    createTime: row.create_time,
    ...(row.start_time === null ? {} : { startTime: row.start_time }),
    ...(row.end_time === null ? {} : { endTime: row.end_time }),
    updateTime: row.update_time,
    cancelReason: row.cancel_reason,
    creator: row.creator,
  });
}

/** The contract's JobAttempt from a row. */
export function toAttempt(row: AttemptRow): JobAttempt {
  return JobAttempt.fromPartial({
    number: row.number,
    workerId: row.worker_id,
    outcome: row.outcome,
    resumedFromCheckpointId: row.resumed_from_checkpoint_id,
    resumedFromStep: Number(row.resumed_from_step),
    lastStep: Number(row.last_step),
    startTime: row.start_time,
    ...(row.end_time === null ? {} : { endTime: row.end_time }),
    heartbeatTime: row.heartbeat_time,
    failureMessage: row.failure_message,
  });
}

/** The contract's Checkpoint from a row. */
export function toCheckpoint(row: CheckpointRow): Checkpoint {
  return Checkpoint.fromPartial({
    id: row.id,
    jobId: row.job_id,
    attempt: row.attempt,
    step: Number(row.step),
    epoch: row.epoch,
    artifact: row.artifact,
    loss: row.loss,
    ...(row.eval_loss === null ? {} : { evalLoss: row.eval_loss }),
    createTime: row.create_time,
  });
}

/** A state's name without the enum prefix, e.g. "RUNNING". */
export function jobStateName(state: JobState): string {
  return jobStateToJSON(state).replace(/^JOB_STATE_/, '');
}
