import { QuantizationJobState } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import type { QuantConfig } from '@lathe/llm';

/** One exact registry version: name, number and manifest digest. */
export interface VersionRef {
  readonly name: string;
  readonly version: number;
  readonly manifestSha256: string;
}

/** Why a job failed: an ErrorInfo reason name (error_reason.proto) and a sentence. */
export interface JobFailure {
  readonly reason: string;
  readonly message: string;
}

/** Sizes of a succeeded job's result. */
export interface JobFigures {
  /** Storage bits per parameter over the whole model. */
  readonly bitsPerParameter: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** A quantization job as stored. */
export interface QuantizationJobRecord {
  readonly id: string;
  readonly state: QuantizationJobState;
  /** The source version, resolved when the job was accepted. */
  readonly source: VersionRef;
  readonly config: QuantConfig;
  /** See cacheKeyOf: jobs with one key produce the same bytes. */
  readonly cacheKey: string;
  readonly outputName: string;
  readonly idempotencyKey: string | undefined;
  /** SHA-256 of the request the idempotency key came with. */
  readonly requestSha256: string;
  /** W3C trace context of the request (traceparent, tracestate). */
  readonly traceHeaders: Readonly<Record<string, string>>;
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  /** The registered quantized version; set once SUCCEEDED. */
  readonly result: VersionRef | undefined;
  readonly figures: JobFigures | undefined;
  /** Set when FAILED. */
  readonly failure: JobFailure | undefined;
  readonly createTime: Date;
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
}

/** States a job can still leave: queued or running. */
export const LIVE_STATES: readonly QuantizationJobState[] = [
  QuantizationJobState.QUANTIZATION_JOB_STATE_QUEUED,
  QuantizationJobState.QUANTIZATION_JOB_STATE_RUNNING,
];

/** Whether a job in `state` has ended (succeeded, failed or cancelled). */
export function isTerminal(state: QuantizationJobState): boolean {
  return !LIVE_STATES.includes(state);
}

/** `QUEUED`, `SUCCEEDED`, ...: a state as people read it. */
export function stateName(state: QuantizationJobState): string {
  return (QuantizationJobState[state] ?? String(state)).replace(/^QUANTIZATION_JOB_STATE_/, '');
}
