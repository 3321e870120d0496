// QLoRA jobs train over an NF4 copy of their base. The service asks the quantization service for
// it (which caches by source digest and spec, so a second job on the same base reuses the first
// result), waits for that job, records the quantized model on the training job, then queues it.
import { setTimeout as sleep } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  QuantizationJobState,
  QuantizationScheme,
  type QuantizationJob,
} from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { isLatheError } from '@lathe/service-kit';
import { HYPERPARAMETER_DEFAULTS } from './job-spec-rules.js';
import { enqueueJob, publishQuietly } from './job-queueing.js';
import type { TrainingDeps } from './training-deps.js';

/** Interval between GetQuantizationJob polls, ms. */
const POLL_MS = 1000;

/**
 * Gets the NF4 base of a QUEUED QLoRA job and then queues it; on a refusal or after the
 * timeout the job FAILS with reason QUANTIZATION_FAILED. Never throws: it runs in the background.
 */
export async function prepareQloraBase(deps: TrainingDeps, jobId: string): Promise<void> {
  try {
    const trace = await deps.store.traceOf(jobId);
    const headers: Record<string, string> = { traceparent: trace.traceparent };
    if (trace.tracestate !== '') headers['tracestate'] = trace.tracestate;
    await context.with(propagation.extract(ROOT_CONTEXT, headers), () =>
      quantizeThenQueue(deps, jobId),
    );
  } catch (error) {
    if (deps.stopping.aborted) return; // the next start resumes it (outbox sweep)
    const message = error instanceof Error ? error.message : String(error);
    deps.log.warn('QLoRA base preparation failed', { jobId, error: message });
    const events = await deps.store
      .failQueuedJob(jobId, {
        reason: 'QUANTIZATION_FAILED',
        message: `could not get the NF4 base: ${message}`,
        retryable: false,
      })
      .catch(() => []);
    await publishQuietly(deps, events);
  }
}

async function quantizeThenQueue(deps: TrainingDeps, jobId: string): Promise<void> {
  const job = await deps.store.requireJob(jobId);
  const base = job.resolvedBaseModel;
  if (base === undefined) throw new Error(`job ${jobId} has no resolved base model`);
  const spec = job.spec?.qlora;
  const deadline = Date.now() + deps.quantizeTimeoutMs;
  const started = await retryUnavailable(deps, deadline, () =>
    deps.quantizer.quantizeModel({
      source: {
        name: base.name,
        selector: { $case: 'version', version: base.version },
      },
      spec: {
        scheme: QuantizationScheme.QUANTIZATION_SCHEME_NF4,
        blockSize: spec?.blockSize ?? HYPERPARAMETER_DEFAULTS.qloraBlockSize,
        doubleQuant: spec?.doubleQuant ?? HYPERPARAMETER_DEFAULTS.qloraDoubleQuant,
        skipTensors: [],
      },
      outputName: '',
      // One quantization request per training job, however often this is resumed.
      idempotencyKey: `training-job-${jobId}`,
    }),
  );
  let qjob: QuantizationJob | undefined = started.job;
  deps.log.info('waiting for the NF4 base', {
    jobId,
    quantizationJobId: qjob?.id,
    cached: started.cached,
  });
  while (qjob !== undefined && !ended(qjob.state)) {
    if (Date.now() > deadline)
      throw new Error(
        `quantization job ${qjob.id} did not finish within ${String(deps.quantizeTimeoutMs)} ms`,
      );
    await sleep(POLL_MS, undefined, { signal: deps.stopping });
    // A cancelled training job stops waiting (the quantization job goes on, cached for others).
    const now = await deps.store.requireJob(jobId);
    if (now.state !== JobState.JOB_STATE_QUEUED) return;
    const id = qjob.id;
    qjob = (
      await retryUnavailable(deps, deadline, () => deps.quantizer.getQuantizationJob({ jobId: id }))
    ).job;
  }
  if (qjob === undefined) throw new Error('the quantization service returned no job');
  if (
    qjob.state !== QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED ||
    qjob.result === undefined
  )
    throw new Error(
      `quantization job ${qjob.id} ended ${QuantizationJobState[qjob.state]}${
        qjob.failure === undefined ? '' : `: ${qjob.failure.reason} ${qjob.failure.message}`
      }`,
    );
  await deps.store.setQuantizedBase(jobId, qjob.result);
  await enqueueJob(deps, jobId);
}

function ended(state: QuantizationJobState): boolean {
  return (
    state === QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED ||
    state === QuantizationJobState.QUANTIZATION_JOB_STATE_FAILED ||
    state === QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED
  );
}

/** Calls `fn` again while the quantization service is UNAVAILABLE, until `deadline`. */
async function retryUnavailable<T>(
  deps: TrainingDeps,
  deadline: number,
  fn: () => Promise<T>,
): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const unavailable = isLatheError(error) && error.code === GrpcStatus.UNAVAILABLE;
      if (!unavailable || Date.now() + POLL_MS > deadline) throw error;
      await sleep(POLL_MS * 5, undefined, { signal: deps.stopping });
    }
  }
}
