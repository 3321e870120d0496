import { createHash, randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { ArtifactStore } from '@lathe/artifacts';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ModelRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { QualityReport } from '@lathe/contracts/lathe/quantization/v1/quality_report';
import { QualityReport as QualityReportCodec } from '@lathe/contracts/lathe/quantization/v1/quality_report';
import {
  QuantizationJobState,
  type QuantizationSpec,
} from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { ModelKind, type ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import { LatheError, isLatheError, type Logger } from '@lathe/service-kit';
import { extractTraceContext, withSpan } from '@lathe/telemetry';
import { context } from '@opentelemetry/api';
import type { RegistryGateway } from '../clients/registry.js';
import { cacheKeyOf, quantConfigOf } from '../domain/quant-spec.js';
import {
  stateName,
  type QuantizationJobRecord,
  type VersionRef,
} from '../domain/quantization-job.js';
import type { QuantizationEvents } from '../events/quantization-events.js';
import type { JobCursor, JobFilter, QuantizationStore } from '../store/quantization-store.js';
import { runQuantization } from './run-quantization.js';

/** What the job runner needs. */
export interface QuantizationJobsDeps {
  readonly store: QuantizationStore;
  readonly registry: RegistryGateway;
  /** The registry's artifact store (its namespace): results are put there, then registered. */
  readonly artifacts: ArtifactStore;
  readonly events: QuantizationEvents;
  /** Scratch space: each job downloads and writes under `<scratchDir>/job-<id>`, removed after. */
  readonly scratchDir: string;
  /** Jobs quantizing at once in this process. */
  readonly concurrency: number;
  /**
   * Lease length the store was opened with, ms: running jobs are renewed every third of it, and
   * the queue is polled this often (jobs queued by other replicas, leases of dead ones).
   */
  readonly leaseMs: number;
  readonly log: Logger;
}

/** A QuantizeModel request, as the domain takes it. */
export interface QuantizeRequest {
  readonly source: ModelRef;
  readonly spec: QuantizationSpec;
  /** '' means `<source name>-<scheme>`. */
  readonly outputName: string;
  /** '' means none. */
  readonly idempotencyKey: string;
  /** W3C trace context of the request; the job's spans and events join that trace. */
  readonly traceHeaders: Readonly<Record<string, string>>;
}

/** The answer to a QuantizeModel request. */
export interface Submitted {
  readonly job: QuantizationJobRecord;
  /** An earlier job with the same source digest and spec was reused (done) or joined (live). */
  readonly cached: boolean;
}

/** Why a running job is being stopped: by a caller, by this process stopping, or lease lost. */
type StopReason = 'cancelled' | 'shutdown' | 'lease lost';

function versionName(ref: { name: string; version: number }): string {
  return `${ref.name}@${String(ref.version)}`;
}

function jobNotFound(id: string): LatheError {
  return LatheError.notFound('quantization job', id, {
    reason: ErrorReason.ERROR_REASON_QUANTIZATION_JOB_NOT_FOUND,
    metadata: { jobId: id },
  });
}

/** Refuses sources that are not full-precision models (quantized copies, adapters). */
function checkQuantizable(version: ModelVersion, ref: VersionRef): void {
  const name = versionName(ref);
  let why: string | undefined;
  if (version.kind === ModelKind.MODEL_KIND_QUANTIZED) {
    const q = version.quantization;
    const from = q?.source === undefined ? '' : ` (${q.scheme} of ${versionName(q.source)})`;
    why = `is already quantized${from}; quantize its full-precision source instead`;
  } else if (version.kind === ModelKind.MODEL_KIND_ADAPTER) {
    why = 'is a LoRA adapter, not a model; merge it into its base first';
  }
  if (why !== undefined)
    throw LatheError.failedPrecondition(
      `model "${name}" ${why}`,
      [
        {
          type: 'MODEL_KIND',
          subject: `models/${ref.name}/versions/${String(ref.version)}`,
          description: why,
        },
      ],
      {
        reason: ErrorReason.ERROR_REASON_MODEL_NOT_QUANTIZABLE,
        metadata: { model: name },
      },
    );
}

/**
 * Quantization jobs: accepting requests (validated, resolved in the registry, deduplicated by
 * cache key and idempotency key), running them in this process (a bounded number at a time, the
 * tensor work on worker threads), cancelling them, and reading them back.
 */
export class QuantizationJobs {
  private readonly running = new Map<string, AbortController>();
  private readonly settled = new Set<Promise<void>>();
  private pumping = false;
  private pumpAgain = false;
  private stopping = false;
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly deps: QuantizationJobsDeps) {}

  /**
   * Puts the jobs this replica was running when it last stopped back in the queue, starts
   * working, and polls the queue every lease period.
   */
  async start(): Promise<void> {
    const requeued = await this.deps.store.requeueOwn();
    if (requeued > 0) this.deps.log.info('requeued interrupted jobs', { count: requeued });
    this.poller = setInterval(() => this.pump(), this.deps.leaseMs);
    this.poller.unref();
    this.pump();
  }

  /**
   * Stops taking jobs and interrupts the running ones; they stay RUNNING in the store, requeued
   * by this replica's next {@link start} or taken over by another once their lease expires.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.poller);
    for (const c of this.running.values()) c.abort('shutdown' satisfies StopReason);
    await Promise.all([...this.settled]);
  }

  /** Accepts a QuantizeModel request: an earlier job when one fits, else a new QUEUED job. */
  async submit(req: QuantizeRequest): Promise<Submitted> {
    const config = quantConfigOf(req.spec);
    const requestSha256 = createHash('sha256')
      .update(JSON.stringify({ source: req.source, config, outputName: req.outputName }))
      .digest('hex');
    if (req.idempotencyKey !== '') {
      const first = await this.byIdempotencyKey(req.idempotencyKey, requestSha256);
      if (first !== undefined) return { job: first, cached: false };
    }
    const version = await this.deps.registry.resolve(req.source);
    if (version.ref === undefined) throw new Error('registry returned a version without its ref');
    const source: VersionRef = { ...version.ref };
    checkQuantizable(version, source);
    const cacheKey = cacheKeyOf(source.manifestSha256, config);
    for (let attempt = 0; attempt < 3; attempt++) {
      const earlier = await this.reusable(cacheKey);
      if (earlier !== undefined) return { job: earlier, cached: true };
      const inserted = await this.deps.store.insert({
        id: randomUUID(),
        source,
        config,
        cacheKey,
        outputName: req.outputName === '' ? `${source.name}-${config.scheme}` : req.outputName,
        idempotencyKey: req.idempotencyKey === '' ? undefined : req.idempotencyKey,
        requestSha256,
        traceHeaders: req.traceHeaders,
      });
      if (inserted === 'idempotency-key') {
        const first = await this.byIdempotencyKey(req.idempotencyKey, requestSha256);
        if (first !== undefined) return { job: first, cached: false };
      } else if (inserted !== 'live-job') {
        this.deps.log.info('job queued', { jobId: inserted.id, source: versionName(source) });
        this.pump();
        return { job: inserted, cached: false };
      }
      // A concurrent request won the race for this key: loop to join (or reuse) its job.
    }
    throw LatheError.aborted(`jobs for ${versionName(source)} kept changing; retry`);
  }

  /** One job; NOT_FOUND if absent. */
  async get(id: string): Promise<QuantizationJobRecord> {
    const job = await this.deps.store.get(id);
    if (job === undefined) throw jobNotFound(id);
    return job;
  }

  /** Up to `limit` jobs matching `filter`, newest first, after `cursor`. */
  list(
    filter: JobFilter,
    cursor: JobCursor | undefined,
    limit: number,
  ): Promise<QuantizationJobRecord[]> {
    return this.deps.store.list(filter, cursor, limit);
  }

  /** How many jobs match `filter`. */
  count(filter: JobFilter): Promise<number> {
    return this.deps.store.count(filter);
  }

  /** Cancels a queued or running job; FAILED_PRECONDITION once it has ended. */
  async cancel(id: string): Promise<QuantizationJobRecord> {
    const job = await this.deps.store.cancel(id);
    if (job === undefined) {
      const current = await this.get(id);
      throw LatheError.failedPrecondition(
        `quantization job ${id} already ended (${stateName(current.state)})`,
        [{ type: 'JOB_STATE', subject: `jobs/${id}`, description: stateName(current.state) }],
        {
          reason: ErrorReason.ERROR_REASON_JOB_ALREADY_TERMINAL,
          metadata: { jobId: id, state: stateName(current.state) },
        },
      );
    }
    this.running.get(id)?.abort('cancelled' satisfies StopReason);
    this.deps.log.info('job cancelled', { jobId: id });
    return job;
  }

  /** The quality report of a SUCCEEDED job; FAILED_PRECONDITION before. */
  async report(id: string): Promise<QualityReport> {
    const job = await this.get(id);
    const bytes =
      job.state === QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED
        ? await this.deps.store.report(id)
        : undefined;
    if (bytes === undefined)
      throw LatheError.failedPrecondition(
        `quantization job ${id} has no quality report: it is ${stateName(job.state)}`,
        [{ type: 'JOB_STATE', subject: `jobs/${id}`, description: stateName(job.state) }],
        {
          reason: ErrorReason.ERROR_REASON_QUALITY_REPORT_NOT_READY,
          metadata: { jobId: id, state: stateName(job.state) },
        },
      );
    return QualityReportCodec.decode(bytes);
  }

  private async byIdempotencyKey(
    key: string,
    requestSha256: string,
  ): Promise<QuantizationJobRecord | undefined> {
    const first = await this.deps.store.byIdempotencyKey(key);
    if (first === undefined || first.requestSha256 === requestSha256) return first;
    throw LatheError.aborted(
      `idempotency key "${key}" was first used with another request (job ${first.id})`,
      {
        reason: ErrorReason.ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
        metadata: { idempotencyKey: key },
      },
    );
  }

  /**
   * A job whose result (or future result) answers `cacheKey`: a live one to join, or the newest
   * succeeded one whose registered result still exists (a deleted result is quantized again).
   */
  private async reusable(cacheKey: string): Promise<QuantizationJobRecord | undefined> {
    const live = await this.deps.store.liveFor(cacheKey);
    if (live !== undefined) return live;
    const done = await this.deps.store.succeededFor(cacheKey);
    if (done?.result === undefined) return undefined;
    try {
      const { name, version } = done.result;
      const now = await this.deps.registry.resolve({
        name,
        selector: { $case: 'version', version },
      });
      return now.ref?.manifestSha256 === done.result.manifestSha256 ? done : undefined;
    } catch (error) {
      if (isLatheError(error) && error.code === status.NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** Claims queued jobs while fewer than `concurrency` run. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (!this.stopping && this.running.size < this.deps.concurrency) {
            const job = await this.deps.store.claimNext();
            if (job === undefined) break;
            this.launch(job);
          }
        } while (this.pumpAgain && !this.stopping);
      } catch (error) {
        this.deps.log.error('cannot take queued jobs', {
          error: error instanceof Error ? error : new Error(String(error)),
        });
      } finally {
        this.pumping = false;
      }
    })();
  }

  private launch(job: QuantizationJobRecord): void {
    const controller = new AbortController();
    this.running.set(job.id, controller);
    // Renew the lease while working; a job that is no longer ours (cancelled through another
    // replica, or taken over) is stopped here.
    const heartbeat = setInterval(() => {
      this.deps.store.renew(job.id).then(
        (held) => {
          if (!held) controller.abort('lease lost' satisfies StopReason);
        },
        (error: unknown) =>
          this.deps.log.warn('lease not renewed', { jobId: job.id, error: String(error) }),
      );
    }, this.deps.leaseMs / 3);
    const done: Promise<void> = context
      .with(extractTraceContext(job.traceHeaders), () =>
        withSpan(
          'quantization.job',
          {
            'lathe.quantization.job_id': job.id,
            'lathe.quantization.source': versionName(job.source),
            'lathe.quantization.scheme': job.config.scheme,
          },
          () => this.execute(job, controller.signal),
        ),
      )
      .catch((error: unknown) =>
        this.deps.log.error('job bookkeeping failed', {
          jobId: job.id,
          error: error instanceof Error ? error : new Error(String(error)),
        }),
      )
      .finally(() => {
        clearInterval(heartbeat);
        this.running.delete(job.id);
        this.settled.delete(done);
        this.pump();
      });
    this.settled.add(done);
  }

  /** Runs one claimed job to its end state, then announces it. */
  private async execute(job: QuantizationJobRecord, signal: AbortSignal): Promise<void> {
    const { log, store, events } = this.deps;
    log.info('job running', { jobId: job.id, source: versionName(job.source) });
    let outcome;
    try {
      outcome = await runQuantization(job, signal, this.deps);
    } catch (error) {
      if (signal.aborted) {
        log.info('job interrupted', { jobId: job.id, why: String(signal.reason) });
        return;
      }
      const failure = failureOf(error);
      log.warn('job failed', { jobId: job.id, reason: failure.reason, message: failure.message });
      const failed = await store.fail(job.id, failure);
      if (failed !== undefined) await publishSafely(log, () => events.failed(failed));
      return;
    }
    const succeeded = await store.succeed(
      job.id,
      outcome.result,
      outcome.figures,
      QualityReportCodec.encode(outcome.report).finish(),
    );
    if (succeeded === undefined) return; // cancelled while registering: the state stays CANCELLED
    log.info('job succeeded', { jobId: job.id, result: versionName(outcome.result) });
    await publishSafely(log, () => events.completed(succeeded));
  }
}

/** A job's failure as the contract records it: an ErrorInfo reason and a sentence. */
export function failureOf(error: unknown): { reason: string; message: string } {
  if (isLatheError(error))
    return { reason: error.details.errorInfo.reason, message: error.rawMessage };
  const e = error instanceof Error ? error : new Error(String(error));
  const thrown = 'errorName' in e && typeof e.errorName === 'string' ? e.errorName : e.name;
  if (thrown === 'QuantizationError' || thrown === 'ModelFileError')
    return { reason: 'MODEL_NOT_QUANTIZABLE', message: e.message };
  return { reason: 'INTERNAL', message: e.message };
}

async function publishSafely(log: Logger, publish: () => Promise<void>): Promise<void> {
  try {
    await publish();
  } catch (error) {
    // The job's end is committed; the event is what is missing, and is reported.
    log.error('event not published', {
      error: error instanceof Error ? error : new Error(String(error)),
    });
  }
}
