// CreateJob: validate the whole spec, resolve the base model and the dataset version through
// their services, check they fit the method, record the job (idempotent by key) in the job's
// trace, and queue it (QLoRA: after its NF4 base exists).
import { createHash } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { ModelRef, ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { DatasetVersion } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { ModelKind, type ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import type { Job } from '@lathe/contracts/lathe/training/v1/job';
import { JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import type { CreateJobRequest } from '@lathe/contracts/lathe/training/v1/training_service';
import { isLatheError, LatheError, type FieldViolation } from '@lathe/service-kit';
import { context, propagation } from '@opentelemetry/api';
import { jobCreatedEvent } from '../events/training-events.js';
import { inputViolations, isNf4 } from './job-input-rules.js';
import { specViolations } from './job-spec-rules.js';
import { enqueueJob, publishQuietly } from './job-queueing.js';
import { prepareQloraBase } from './qlora-base.js';
import type { TrainingDeps } from './training-deps.js';

const LABEL_KEY = /^[a-z][a-z0-9_.-]{0,62}$/;

/** "name@prod" or "name@3" */
export function modelRefText(ref: ModelRef | undefined): string {
  if (ref === undefined) return '?';
  const sel = ref.selector;
  return `${ref.name}@${sel === undefined ? 'latest' : sel.$case === 'alias' ? sel.alias : String(sel.version)}`;
}

/** Checks and records a job, then queues it; returns it (or the first one for a repeated key). */
export async function createJob(
  deps: TrainingDeps,
  request: CreateJobRequest,
  creator: string,
): Promise<Job> {
  const violations: FieldViolation[] = specViolations(request.spec);
  for (const key of Object.keys(request.labels))
    if (!LABEL_KEY.test(key))
      violations.push({
        field: `labels[${key}]`,
        description: 'keys are lowercase letters, digits, "_", "." and "-", 1 to 63 characters',
      });
  if (violations.length > 0) throw LatheError.invalidArgument(violations);
  const spec = request.spec as JobSpec;

  const base = await resolveModel(deps, spec.baseModel as ModelRef, 'spec.baseModel');
  const dataset = await resolveDataset(deps, spec);
  const mismatches = inputViolations(spec, base, dataset);
  let quantizedBase: ModelVersionRef | undefined =
    isNf4(base) && spec.method === Method.METHOD_QLORA ? base.ref : undefined;
  const given = spec.qlora?.quantizedBase;
  if (spec.method === Method.METHOD_QLORA && given !== undefined && mismatches.length === 0) {
    const q = await resolveModel(deps, given, 'spec.qlora.quantizedBase');
    if (!isNf4(q))
      mismatches.push({
        field: 'spec.qlora.quantizedBase',
        description: `${modelRefText(given)} is not an NF4 model`,
      });
    else if (
      q.quantization?.source?.name !== base.ref?.name ||
      q.quantization?.source?.version !== base.ref?.version
    )
      mismatches.push({
        field: 'spec.qlora.quantizedBase',
        description: `${modelRefText(given)} is a quantization of ${q.quantization?.source?.name ?? '?'}@${String(q.quantization?.source?.version ?? 0)}, not of ${base.ref?.name ?? '?'}@${String(base.ref?.version ?? 0)}`,
      });
    quantizedBase = q.ref;
  }
  if (mismatches.length > 0) throw LatheError.invalidArgument(mismatches);
  if (base.ref === undefined || dataset.ref === undefined)
    throw LatheError.internal(new Error('a resolved reference came back without its ref'));

  // The active context is CreateJob's server span (gRPC instrumentation, when telemetry runs).
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  const { job, created, events } = await deps.store.createJob({
    spec,
    displayName: request.displayName,
    creator,
    labels: request.labels,
    baseModel: base.ref,
    dataset: dataset.ref,
    idempotencyKey: request.idempotencyKey,
    requestSha256: requestDigest(request),
    trace: { traceparent: trace['traceparent'] ?? '', tracestate: trace['tracestate'] ?? '' },
    maxAttempts: deps.maxAttempts,
    quantizedBase,
  });
  if (!created) return job;
  deps.log.info('job created', {
    jobId: job.id,
    method: Method[spec.method],
    traceId: job.traceId,
  });
  try {
    await deps.bus.publish(
      jobCreatedEvent,
      {
        eventId: `training-job-created-${job.id}`,
        occurredAt: job.createTime,
        jobId: job.id,
        method: spec.method,
        baseModel: base.ref,
        dataset: dataset.ref,
      },
      { id: `training-job-created-${job.id}` },
    );
  } catch (error) {
    deps.log.warn('could not publish job_created', { jobId: job.id, error: String(error) });
  }
  await publishQuietly(deps, events);

  if (spec.method === Method.METHOD_QLORA && quantizedBase === undefined) {
    void prepareQloraBase(deps, job.id);
    return job;
  }
  try {
    await enqueueJob(deps, job.id);
  } catch (error) {
    // Recorded but not yet on the queue: the outbox sweep queues it when the bus is back.
    deps.log.warn('job recorded but not queued yet', { jobId: job.id, error: String(error) });
  }
  return (await deps.store.getJob(job.id)) ?? job;
}

/** sha256 of what makes two CreateJob requests the same (labels in key order). */
export function requestDigest(request: CreateJobRequest): string {
  const labels = Object.fromEntries(
    Object.entries(request.labels).sort(([a], [b]) => a.localeCompare(b)),
  );
  const canonical = JSON.stringify({
    spec: request.spec === undefined ? null : JobSpec.toJSON(request.spec),
    displayName: request.displayName,
    labels,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

async function resolveModel(
  deps: TrainingDeps,
  ref: ModelRef,
  field: string,
): Promise<ModelVersion> {
  const text = modelRefText(ref);
  try {
    const { version } = await deps.models.getModelVersion({ ref, includeDeleted: false });
    if (version === undefined) throw new Error(`the registry returned no version for ${text}`);
    if (version.kind === ModelKind.MODEL_KIND_UNSPECIFIED)
      throw new Error(`the registry returned ${text} without a kind`);
    return version;
  } catch (error) {
    throw downstreamError(
      error,
      'registry',
      'model',
      text,
      field,
      ErrorReason.ERROR_REASON_MODEL_VERSION_NOT_FOUND,
    );
  }
}

async function resolveDataset(deps: TrainingDeps, spec: JobSpec): Promise<DatasetVersion> {
  const ref = spec.dataset;
  if (ref === undefined) throw new Error('spec.dataset was checked present');
  const text = `${ref.dataset} version ${ref.version === 0 ? 'latest' : String(ref.version)}`;
  let version: DatasetVersion | undefined;
  try {
    version = (
      await deps.datasets.getDatasetVersion({ dataset: ref.dataset, version: ref.version })
    ).version;
  } catch (error) {
    throw downstreamError(
      error,
      'datasets',
      'dataset version',
      text,
      'spec.dataset',
      ErrorReason.ERROR_REASON_DATASET_VERSION_NOT_FOUND,
    );
  }
  if (version?.ref === undefined)
    throw LatheError.internal(new Error(`the datasets service returned no version for ${text}`));
  if (ref.manifestSha256 !== '' && ref.manifestSha256 !== version.ref.manifestSha256)
    throw LatheError.failedPrecondition(
      `dataset ${text} has manifest ${version.ref.manifestSha256}, not ${ref.manifestSha256}`,
      [
        {
          type: 'DIGEST',
          subject: `datasets/${ref.dataset}/versions/${String(version.ref.version)}`,
          description: 'manifest digest differs',
        },
      ],
      { reason: ErrorReason.ERROR_REASON_DIGEST_MISMATCH },
    );
  return version;
}

/**
 * The caller's error for a failed downstream call: NOT_FOUND and FAILED_PRECONDITION name the
 * thing; UNAVAILABLE and DEADLINE_EXCEEDED say which service is unreachable; anything else is
 * INTERNAL (its cause logged, never sent).
 */
function downstreamError(
  error: unknown,
  service: string,
  thing: string,
  text: string,
  field: string,
  notFoundReason: ErrorReason,
): LatheError {
  if (!isLatheError(error)) return LatheError.internal(error);
  switch (error.code) {
    case GrpcStatus.NOT_FOUND:
      return LatheError.notFound(thing, text, {
        reason: notFoundReason,
        description: `${thing} ${text} not found (${field})`,
        cause: error,
      });
    case GrpcStatus.FAILED_PRECONDITION:
      return LatheError.failedPrecondition(
        `${thing} ${text} cannot be used: ${error.rawMessage}`,
        [{ type: 'INPUT', subject: text, description: error.rawMessage }],
        { cause: error },
      );
    case GrpcStatus.INVALID_ARGUMENT:
      return LatheError.invalidArgument(
        [{ field, description: `${service} refused ${text}: ${error.rawMessage}` }],
        { cause: error },
      );
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
      return LatheError.unavailable(`the ${service} service is unreachable: ${error.rawMessage}`, {
        cause: error,
      });
    default:
      return LatheError.internal(error);
  }
}
