// One delivery of a training job, from taking it to settling its work-queue message.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { context, type Context, type Span } from '@opentelemetry/api';
import type { EventBus, Job } from '@lathe/bus';
import type { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import {
  JobState,
  type JobFailure,
  TrainingProgress,
} from '@lathe/contracts/lathe/training/v1/job';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import type { TrainingEngineFactory } from '@lathe/llm';
import type { Logger } from '@lathe/service-kit';
import { extractTraceContext, injectTraceHeaders, withSpan } from '@lathe/telemetry';
import {
  isStaleAttemptError,
  type JobStore,
  type StartedAttempt,
  type WorkerCapabilities,
} from '../store/job-store.js';
import {
  fetchResumePoint,
  storeCheckpointArchive,
  type ResumePoint,
} from './checkpoint-transfer.js';
import { runDpoAttempt } from './dpo-attempt.js';
import { jobFailureOf } from './job-failure.js';
import type { JobInputSources } from './job-inputs.js';
import { publishJobEvents } from './job-event-publisher.js';
import { aliasVersion, moveOutputAlias } from './output-alias.js';
import { registerResult, resultName } from './register-result.js';
import type { ProgressRecorder, RunningAttempt, TrainedResult } from './running-attempt.js';
import { runSftAttempt } from './sft-attempt.js';
import type { WorkerSettings } from './worker-config.js';

/** Why a running attempt was asked to stop early. */
export type StopReason = 'cancel' | 'stale' | 'shutdown';

/** Everything one attempt needs; shared by every attempt of a worker process. */
export interface AttemptDeps extends JobInputSources {
  readonly store: JobStore;
  readonly bus: EventBus;
  /** Namespace `training` of the artifact store: checkpoint archives. */
  readonly trainingArtifacts: JobInputSources['registryArtifacts'];
  readonly settings: Pick<
    WorkerSettings,
    | 'workerId'
    | 'checkpointEvery'
    | 'progressIntervalMs'
    | 'cancelPollMs'
    | 'retryDelayMs'
    | 'stepSpanGroup'
  > & { readonly heartbeatMs: number };
  readonly capabilities: WorkerCapabilities;
  readonly engineFactory: TrainingEngineFactory;
  /** onnxruntime session options of DPO runs (which build their own engines). Default: CPU. */
  readonly session?: {
    readonly executionProvider: 'cpu' | 'cuda';
    readonly intraOpThreads?: number;
  };
  readonly log: Logger;
}

/** How a delivery ended, for the worker's bookkeeping and tests. */
export type AttemptOutcome =
  'succeeded' | 'failed' | 'requeued' | 'cancelled' | 'refused' | 'stale' | 'shutdown';

/**
 * Runs one delivery of a JobQueued message: begins a fenced attempt in the store, materializes
 * the inputs, trains (resuming from the job's latest checkpoint), uploads and records checkpoints,
 * evaluates, registers the result and ends the attempt, then settles the message: ack after
 * success, term after a deterministic failure or a cancel, nak for a retryable failure or a
 * shutdown, and nothing at all for a stale attempt (another worker holds the job).
 */
export class AttemptRunner {
  private readonly stop = new AbortController();
  private stopReason: StopReason | undefined;
  private attempt: number | undefined;
  private writes: Promise<void> = Promise.resolve();
  private writeError: unknown;
  private readonly log: Logger;
  /** Where the spec's output alias pointed when this attempt started (0: nowhere). */
  private aliasAtStart: number | undefined;
  private outputAlias = '';

  constructor(
    private readonly deps: AttemptDeps,
    private readonly delivery: Job<JobQueued>,
  ) {
    this.log = deps.log.child({ jobId: delivery.message.jobId });
  }

  /** The job this delivery is about. */
  get jobId(): string {
    return this.delivery.message.jobId;
  }

  /** Asks the attempt to stop at the next step boundary (a checkpoint is written first). */
  requestStop(reason: StopReason): void {
    if (this.stopReason === undefined || reason === 'stale') this.stopReason = reason;
    this.stop.abort(reason);
  }

  /** Runs the delivery to its end; never throws (failures are recorded and settled). */
  async run(): Promise<AttemptOutcome> {
    const message = this.delivery.message;
    const parent: Context = extractTraceContext(
      message.trace?.traceparent
        ? { traceparent: message.trace.traceparent, tracestate: message.trace.tracestate }
        : this.delivery.headers,
    );
    const heartbeat = setInterval(() => void this.beat(), this.deps.settings.heartbeatMs);
    try {
      return await context.with(parent, () =>
        withSpan(
          'training.attempt',
          {
            'lathe.job_id': message.jobId,
            'lathe.worker_id': this.deps.settings.workerId,
            'messaging.delivery_count': this.delivery.deliveryCount,
          },
          (span) => this.runInSpan(span),
        ),
      );
    } catch (error) {
      // Only settling itself can land here (e.g. NATS gone): the message comes back after the ack wait.
      this.log.error('could not settle the work message', { error: String(error) });
      return 'failed';
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async beat(): Promise<void> {
    await this.delivery.working().catch(() => undefined);
    if (this.attempt === undefined || this.stopReason === 'stale') return;
    try {
      const w = await this.deps.store.heartbeat(this.jobId, this.attempt);
      if (w.cancelRequested) this.requestStop('cancel');
    } catch (error) {
      // A refused heartbeat means another attempt owns the job; a failed one is retried by the
      // next beat (the attempt is only lost if the store stays unreachable past the ack wait).
      if (isStaleAttemptError(error)) this.noteWriteError(error);
      else this.log.warn('heartbeat to the store failed', { error: String(error) });
    }
  }

  /**
   * Publishes stored job events on the bus. The store's history is the record (WatchJob reads
   * it); a publish the bus gave up on after its own retries is logged, not fatal to the run.
   */
  private async publish(events: Parameters<typeof publishJobEvents>[1]): Promise<void> {
    try {
      await publishJobEvents(this.deps.bus, events);
    } catch (error) {
      this.log.warn('could not publish job events', {
        sequences: events.map((e) => e.sequence),
        error: String(error),
      });
    }
  }

  private noteWriteError(error: unknown): void {
    if (isStaleAttemptError(error)) {
      this.log.warn(
        'store refused a write: stale attempt; stopping without registering or acking',
        {
          attempt: this.attempt,
          error: error.message,
        },
      );
      this.requestStop('stale');
    } else {
      this.log.warn('store write failed', { error: String(error) });
    }
    this.writeError ??= error;
  }

  /** Queues a store write after the earlier ones; its failure stops the attempt. */
  private enqueueWrite(write: () => Promise<void>): void {
    this.writes = this.writes.then(async () => {
      if (this.stopReason === 'stale') return;
      try {
        await write();
      } catch (error) {
        this.noteWriteError(error);
        if (!isStaleAttemptError(error)) this.requestStop('shutdown');
      }
    });
  }

  private async runInSpan(span: Span): Promise<AttemptOutcome> {
    let begun: Awaited<ReturnType<JobStore['beginAttempt']>>;
    try {
      begun = await this.deps.store.beginAttempt(
        this.jobId,
        this.deps.settings.workerId,
        this.deps.capabilities,
      );
    } catch (error) {
      this.log.error('could not begin an attempt; giving the job back', { error: String(error) });
      await this.delivery.nak(this.retryDelayMs());
      return 'requeued';
    }
    await this.publish(begun.events);
    if (!begun.started) {
      this.log.info('attempt refused; removing the work message', {
        reason: begun.reason,
        message: begun.message,
      });
      await this.delivery.term(`attempt refused: ${begun.reason}`);
      return 'refused';
    }
    this.attempt = begun.attempt;
    this.outputAlias = begun.spec.outputAlias;
    span.setAttribute('lathe.attempt', begun.attempt);
    this.log.info('attempt started', {
      attempt: begun.attempt,
      resumeFromStep: begun.resumeFrom?.step ?? 0,
      lostAttempt: begun.lostAttempt,
    });
    const runDir = join(this.deps.scratchDir, 'runs', `${this.jobId}-a${String(begun.attempt)}`);
    try {
      this.aliasAtStart =
        begun.spec.outputAlias === ''
          ? undefined
          : await aliasVersion(
              this.deps.registry,
              resultName(begun.spec, begun.baseModel.name, methodName(begun.spec.method)),
              begun.spec.outputAlias,
            );
      return await this.runAttempt(begun, runDir);
    } catch (error) {
      return await this.fail(error);
    } finally {
      await this.writes;
      await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private runAttempt(begun: StartedAttempt, runDir: string): Promise<AttemptOutcome> {
    const run = this.running(begun, runDir);
    return begun.spec.method === Method.METHOD_DPO ? runDpoAttempt(run) : runSftAttempt(run);
  }

  /** This attempt as the method's run drives it: its writes, stops and end stay here. */
  private running(begun: StartedAttempt, runDir: string): RunningAttempt {
    return {
      begun,
      runDir,
      deps: this.deps,
      log: this.log,
      signal: this.stop.signal,
      resumePoint: () => this.resumePoint(begun, runDir),
      setState: (state) => this.write((a) => this.deps.store.setState(this.jobId, a, state)),
      queuedWrites: () => this.writes,
      settleIfStopped: () => this.settleIfStopped(begun.attempt),
      settleAfterTraining: () => this.settleAfterTraining(begun.attempt),
      progressRecorder: () => this.progressWriter(begun.attempt),
      queueCheckpointUpload: (checkpoint, stepsPerEpoch, loss, evalLoss, attemptContext) =>
        this.queueCheckpointUpload(checkpoint, stepsPerEpoch, loss, evalLoss, attemptContext),
      pollCancel: () => this.pollCancel(),
      succeed: (result) => this.succeed(begun, result),
    };
  }

  /** After training: the queued writes done, a stop settled, or a write's failure thrown. */
  private async settleAfterTraining(attempt: number): Promise<AttemptOutcome | undefined> {
    await this.writes;
    const stopped = await this.settleIfStopped(attempt);
    if (stopped !== undefined) return stopped;
    if (this.writeError !== undefined) throw asError(this.writeError);
    return undefined;
  }

  /**
   * Registers the run's result, moves the spec's output alias (if any) to it, then ends the
   * attempt SUCCEEDED with its registered result and acks the message.
   */
  private async succeed(begun: StartedAttempt, result: TrainedResult): Promise<AttemptOutcome> {
    const attempt = begun.attempt;
    await this.write((a) =>
      this.deps.store.setState(this.jobId, a, JobState.JOB_STATE_REGISTERING),
    );
    const registered: ModelVersionRef = await withSpan(
      'training.register',
      { 'lathe.attempt': attempt },
      () =>
        registerResult(this.deps, {
          ...result,
          jobId: this.jobId,
          begun,
          metadata: this.traceMetadata(begun),
        }),
    );
    const alias = this.outputAlias;
    if (alias !== '' && this.aliasAtStart !== undefined)
      await moveOutputAlias(this.deps.registry, {
        name: registered.name,
        alias,
        version: registered.version,
        expected: this.aliasAtStart,
        jobId: this.jobId,
      });
    const finished = await this.deps.store.finishAttempt(this.jobId, attempt, 'succeeded', {
      result: registered,
    });
    await this.publish(finished.events);
    await this.delivery.ack();
    this.log.info('job succeeded', {
      attempt,
      result: `${registered.name}@${String(registered.version)}`,
    });
    return 'succeeded';
  }

  /**
   * The step-progress recorder of a run: the progress of a step is queued as a store write at
   * most once per progress interval, and always for the last step; a cancel it brings back stops
   * the run.
   */
  private progressWriter(attempt: number): ProgressRecorder {
    let lastWrite = 0;
    return (at, progressOf) => {
      const now = Date.now();
      if (now - lastWrite < this.deps.settings.progressIntervalMs && at.step !== at.totalSteps)
        return;
      lastWrite = now;
      const progress = TrainingProgress.fromPartial(progressOf());
      this.enqueueWrite(async () => {
        const w = await this.deps.store.recordProgress(this.jobId, attempt, progress);
        await this.publish(w.events);
        if (w.cancelRequested) this.requestStop('cancel');
      });
    };
  }

  /** Checks the job's cancel flag every cancel-poll interval; clear the returned timer. */
  private pollCancel(): NodeJS.Timeout {
    return setInterval(() => {
      this.deps.store.isCancelRequested(this.jobId).then(
        (yes) => yes && this.requestStop('cancel'),
        () => undefined,
      );
    }, this.deps.settings.cancelPollMs);
  }

  /** The caller's trace for the registry (its lineage records the trace id). */
  private traceMetadata(begun: StartedAttempt): Metadata {
    const headers = injectTraceHeaders({});
    const metadata = new Metadata();
    const traceparent = headers['traceparent'] ?? begun.trace.traceparent;
    if (traceparent !== '') metadata.set('traceparent', traceparent);
    const tracestate = headers['tracestate'] ?? begun.trace.tracestate;
    if (tracestate !== '') metadata.set('tracestate', tracestate);
    return metadata;
  }

  /** A fenced write now, publishing its events; a refusal stops the attempt and rethrows. */
  private async write(
    fn: (attempt: number) => Promise<{ cancelRequested: boolean; events: JobEvent[] }>,
  ): Promise<void> {
    const attempt = this.attempt;
    if (attempt === undefined) throw new Error('no attempt');
    try {
      const w = await fn(attempt);
      await this.publish(w.events);
      if (w.cancelRequested) this.requestStop('cancel');
    } catch (error) {
      this.noteWriteError(error);
      throw error;
    }
  }

  /**
   * Where this attempt starts: the job's latest checkpoint (as the store handed it to this
   * attempt) fetched and unpacked under the run directory, or step 0.
   */
  private resumePoint(begun: StartedAttempt, runDir: string): Promise<ResumePoint> {
    return fetchResumePoint(this.deps.trainingArtifacts, begun.resumeFrom, join(runDir, 'resume'));
  }

  /**
   * Queues the upload of a checkpoint the trainer just wrote after the earlier store writes, in
   * the attempt's trace; the directory is removed once stored.
   */
  private queueCheckpointUpload(
    checkpoint: { readonly step: number; readonly path: string },
    stepsPerEpoch: number,
    loss: number,
    evalLoss: number | undefined,
    attemptContext: Context,
  ): void {
    const { step, path } = checkpoint;
    this.enqueueWrite(() =>
      context.with(attemptContext, () =>
        this.uploadCheckpoint(path, step, stepsPerEpoch, loss, evalLoss),
      ),
    );
  }

  private async uploadCheckpoint(
    dir: string,
    step: number,
    stepsPerEpoch: number,
    loss: number,
    evalLoss: number | undefined,
  ): Promise<void> {
    const attempt = this.attempt ?? 0;
    await withSpan(
      'training.checkpoint',
      { 'lathe.attempt': attempt, 'lathe.step': step },
      async () => {
        const artifact = await storeCheckpointArchive(this.deps.trainingArtifacts, dir);
        const w = await this.deps.store.recordCheckpoint(this.jobId, attempt, {
          step,
          epoch: step / stepsPerEpoch,
          artifact,
          loss,
          evalLoss,
        });
        await this.publish(w.events);
        if (w.cancelRequested) this.requestStop('cancel');
        this.log.info('checkpoint stored', {
          step,
          sha256: artifact.sha256,
          bytes: artifact.sizeBytes,
        });
      },
    );
    await rm(dir, { recursive: true, force: true });
  }

  /** When the attempt was asked to stop, ends it accordingly and settles the message. */
  private async settleIfStopped(attempt: number): Promise<AttemptOutcome | undefined> {
    switch (this.stopReason) {
      case undefined:
        return undefined;
      case 'stale':
        // Another attempt owns the job now: write nothing, register nothing, settle nothing.
        this.log.warn('attempt is stale; dropping the work message without settling it', {
          attempt,
        });
        return 'stale';
      case 'shutdown':
        if (this.writeError !== undefined) throw asError(this.writeError);
        this.log.info('shutting down: giving the job back for another worker to resume', {
          attempt,
        });
        await this.delivery.nak(0);
        return 'shutdown';
      case 'cancel': {
        const finished = await this.deps.store.finishAttempt(this.jobId, attempt, 'cancelled');
        await this.publish(finished.events);
        await this.delivery.term('job cancelled');
        this.log.info('job cancelled', { attempt });
        return 'cancelled';
      }
    }
  }

  /**
   * Backoff of a retryable failure: the retry delay doubled per earlier delivery, at most 64
   * times it, so a dependency that stays down is not hammered.
   */
  private retryDelayMs(): number {
    const doublings = Math.min(6, Math.max(0, this.delivery.deliveryCount - 1));
    return this.deps.settings.retryDelayMs * 2 ** doublings;
  }

  /** Records a failure (or notes staleness) and settles the message. */
  private async fail(error: unknown): Promise<AttemptOutcome> {
    await this.writes;
    if (isStaleAttemptError(error) || this.stopReason === 'stale') {
      this.noteWriteError(error);
      return 'stale';
    }
    const attempt = this.attempt;
    const failure: JobFailure = jobFailureOf(error);
    this.log.error('attempt failed', { attempt, ...failure });
    if (attempt === undefined) {
      await this.delivery.nak(this.retryDelayMs());
      return 'requeued';
    }
    try {
      const finished = await this.deps.store.finishAttempt(this.jobId, attempt, 'failed', {
        failure,
      });
      await this.publish(finished.events);
      if (finished.requeue) {
        await this.delivery.nak(this.retryDelayMs());
        return 'requeued';
      }
      await this.delivery.term(`job failed: ${failure.reason}`);
      return 'failed';
    } catch (storeError) {
      if (isStaleAttemptError(storeError)) {
        this.noteWriteError(storeError);
        return 'stale';
      }
      // The store is unreachable: give the message back; the next attempt marks this one LOST.
      this.log.error('could not record the failure', { error: String(storeError) });
      await this.delivery.nak(this.retryDelayMs());
      return 'requeued';
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The result-name suffix of a method, as `<base name>-<method>` spells it. */
function methodName(method: Method): 'full' | 'lora' | 'qlora' | 'dpo' {
  switch (method) {
    case Method.METHOD_FULL:
      return 'full';
    case Method.METHOD_QLORA:
      return 'qlora';
    case Method.METHOD_DPO:
      return 'dpo';
    default:
      return 'lora';
  }
}
