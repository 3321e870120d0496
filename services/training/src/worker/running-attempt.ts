// What a method's run (SFT, DPO) sees of an attempt the runner has begun: the life cycle's fenced
// writes, stop handling and ending stay with the runner; the method only trains and reports.
import type { Context } from '@opentelemetry/api';
import type { JobState, TrainingProgress } from '@lathe/contracts/lathe/training/v1/job';
import type { Logger } from '@lathe/service-kit';
import type { StartedAttempt } from '../store/job-store.js';
import type { AttemptDeps, AttemptOutcome } from './attempt-runner.js';
import type { ResumePoint } from './checkpoint-transfer.js';
import type { RunResult } from './register-result.js';

/**
 * Records a step's progress: queued as a store write at most once per progress interval, and
 * always for the last step; `progress` is only called when a write is queued.
 */
export type ProgressRecorder = (
  at: { readonly step: number; readonly totalSteps: number },
  progress: () => Partial<TrainingProgress>,
) => void;

/** What a run trained, for the registry (the runner adds the job, the attempt and the trace). */
export type TrainedResult = Omit<RunResult, 'jobId' | 'begun' | 'metadata'>;

/** An attempt begun in the store, as the method-specific run drives it. */
export interface RunningAttempt {
  /** The attempt as the store started it: spec, inputs, the checkpoint to resume from. */
  readonly begun: StartedAttempt;
  /** This attempt's scratch directory, removed when it ends. */
  readonly runDir: string;
  readonly deps: AttemptDeps;
  /** The worker's log, bound to the job. */
  readonly log: Logger;
  /** Aborted when the attempt is asked to stop (cancel, shutdown, stale). */
  readonly signal: AbortSignal;
  /** The job's latest checkpoint fetched and unpacked under the run directory, or step 0. */
  resumePoint(): Promise<ResumePoint>;
  /** Moves the job to `state` now (a fenced write); a refusal stops the attempt and rethrows. */
  setState(state: JobState): Promise<void>;
  /** Settles once every store write queued so far has run. */
  queuedWrites(): Promise<void>;
  /** When the attempt was asked to stop, ends it accordingly and settles the message. */
  settleIfStopped(): Promise<AttemptOutcome | undefined>;
  /**
   * After training: waits for the queued writes, then settles a stop as {@link settleIfStopped}
   * does, or throws the failure of a queued write.
   */
  settleAfterTraining(): Promise<AttemptOutcome | undefined>;
  /** A fresh progress recorder for one run; a cancel its writes bring back stops the run. */
  progressRecorder(): ProgressRecorder;
  /**
   * Queues the upload of a checkpoint the trainer just wrote after the earlier store writes, in
   * `attemptContext` (the attempt's trace); the directory is removed once stored.
   */
  queueCheckpointUpload(
    checkpoint: { readonly step: number; readonly path: string },
    stepsPerEpoch: number,
    loss: number,
    evalLoss: number | undefined,
    attemptContext: Context,
  ): void;
  /** Checks the job's cancel flag every cancel-poll interval; clear the returned timer. */
  pollCancel(): NodeJS.Timeout;
  /**
   * Registers the result (state REGISTERING), moves the spec's output alias to it, ends the
   * attempt SUCCEEDED and acks the message.
   */
  succeed(result: TrainedResult): Promise<AttemptOutcome>;
}
