import { createHash } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { PageResponse } from '@lathe/contracts/lathe/common/v1/paging';
import type { QuantizationJob } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import type { ListQuantizationJobsRequest } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { LatheError } from '@lathe/service-kit';
import type { QuantizationJobs } from './app/quantization-jobs.js';
import { specOut } from './domain/quant-spec.js';
import type { QuantizationJobRecord } from './domain/quantization-job.js';
import type { JobCursor, JobFilter } from './store/quantization-store.js';

/** Jobs per page when the request says 0 (paging.proto). */
export const DEFAULT_PAGE_SIZE = 50;
/** Most jobs per page; larger requests are lowered to it (paging.proto). */
export const MAX_PAGE_SIZE = 1000;

/** A job record as the contract's QuantizationJob. */
export function jobOut(job: QuantizationJobRecord): QuantizationJob {
  return {
    id: job.id,
    source: { ...job.source },
    spec: specOut(job.config),
    state: job.state,
    failure: job.failure === undefined ? undefined : { ...job.failure },
    result: job.result === undefined ? undefined : { ...job.result },
    tensorsDone: job.tensorsDone,
    tensorsTotal: job.tensorsTotal,
    createTime: job.createTime,
    startTime: job.startTime,
    endTime: job.endTime,
    outputName: job.outputName,
  };
}

function filterKey(filter: JobFilter): string {
  const canonical = JSON.stringify([[...filter.states].sort(), filter.sourceName]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

function badToken(): LatheError {
  return LatheError.invalidArgument(
    [{ field: 'page.pageToken', description: 'is not a token of this listing (filters changed?)' }],
    { reason: ErrorReason.ERROR_REASON_INVALID_PAGE_TOKEN },
  );
}

/** The cursor a page token carries, checked against the listing's filters. */
function cursorOf(token: string, filter: JobFilter): JobCursor | undefined {
  if (token === '') return undefined;
  let parsed: { t?: unknown; i?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw badToken();
  }
  const time = typeof parsed.t === 'string' ? new Date(parsed.t) : undefined;
  if (
    time === undefined ||
    Number.isNaN(time.getTime()) ||
    typeof parsed.i !== 'string' ||
    parsed.f !== filterKey(filter)
  )
    throw badToken();
  return { createTime: time, id: parsed.i };
}

/**
 * One page of ListQuantizationJobs, newest first. Keyset paging: the token holds the last job's
 * (create time, id) and a hash of the filters, so jobs created meanwhile never shift a page and
 * a token reused with other filters is refused (INVALID_PAGE_TOKEN).
 */
export async function listPage(
  jobs: QuantizationJobs,
  r: ListQuantizationJobsRequest,
): Promise<{ items: QuantizationJobRecord[]; page: PageResponse }> {
  const filter: JobFilter = { states: r.states, sourceName: r.sourceModel };
  const size = Math.min(r.page?.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const cursor = cursorOf(r.page?.pageToken ?? '', filter);
  const rows = await jobs.list(filter, cursor, size + 1);
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  const nextPageToken =
    rows.length > size && last !== undefined
      ? Buffer.from(
          JSON.stringify({ t: last.createTime.toISOString(), i: last.id, f: filterKey(filter) }),
        ).toString('base64url')
      : '';
  return { items, page: { nextPageToken, totalSize: await jobs.count(filter) } };
}
