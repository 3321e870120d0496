// How an error that ended an attempt is recorded: its reason, and whether retrying can help.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { JobFailure } from '@lathe/contracts/lathe/training/v1/job';
import { isLatheError } from '@lathe/service-kit';
import { CheckpointArchiveError } from './checkpoint-archive.js';

/** Errors of @lathe/llm and of this worker that the same inputs would raise again. */
const DETERMINISTIC: Readonly<Record<string, string>> = {
  TrainingDivergedError: 'TRAINING_DIVERGED',
  TrainConfigError: 'INVALID_ARGUMENT',
  UnsupportedSpecError: 'INVALID_ARGUMENT',
  DataFileError: 'INVALID_DATA',
  ModelFileError: 'MODEL_FILES_INVALID',
  CheckpointError: 'CHECKPOINT_INVALID',
  [CheckpointArchiveError.name]: 'CHECKPOINT_INVALID',
  // trainDpo's option checks.
  RangeError: 'INVALID_ARGUMENT',
};

/** gRPC codes of a dependency that another attempt would get again. */
const DETERMINISTIC_CODES: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.OUT_OF_RANGE,
]);

/**
 * The {@link JobFailure} for an error that ended an attempt. Deterministic failures (a diverged
 * loss, bad data or model files, a spec the engine cannot run, a dependency refusing the request)
 * are not retryable, so the job fails once instead of looping; anything else (a lost connection,
 * a full disk, a crashed session) is, within the job's attempt limit.
 */
export function jobFailureOf(error: unknown): JobFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name in DETERMINISTIC)
    return { reason: DETERMINISTIC[error.name] ?? 'INTERNAL', message, retryable: false };
  if (isLatheError(error)) {
    const reason =
      error.details.errorInfo.reason === ''
        ? (GrpcStatus[error.code] ?? 'INTERNAL')
        : error.details.errorInfo.reason;
    return { reason, message, retryable: !DETERMINISTIC_CODES.has(error.code) };
  }
  return { reason: 'INTERNAL', message, retryable: true };
}
