// Page tokens of ListJobs (a keyset position: newest first, stable while jobs are added) and of
// ListCheckpoints (an offset: a job's checkpoints only grow at the end). Both are bound to the
// listing's filters: a token reused with other filters is refused with INVALID_PAGE_TOKEN.
import { createHash } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { PageRequest } from '@lathe/contracts/lathe/common/v1/paging';
import { LatheError } from '@lathe/service-kit';
import type { JobCursor } from '../store/job-store.js';

/** Items per page when the request says 0 (paging.proto). */
export const DEFAULT_PAGE_SIZE = 50;
/** Most items per page; larger requests are lowered to it (paging.proto). */
export const MAX_PAGE_SIZE = 1000;

/** The page size a request asks for, defaulted and capped. */
export function pageSize(page: PageRequest | undefined): number {
  const size = page?.pageSize ?? 0;
  return size <= 0 ? DEFAULT_PAGE_SIZE : Math.min(size, MAX_PAGE_SIZE);
}

function filterKey(filters: unknown): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 16);
}

function badToken(): LatheError {
  return LatheError.invalidArgument(
    [{ field: 'page.pageToken', description: 'is not a token of this listing (filters changed?)' }],
    { reason: ErrorReason.ERROR_REASON_INVALID_PAGE_TOKEN },
  );
}

function decode(token: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badToken();
}

/** The token after a page ending with the job at `cursor`. */
export function jobPageToken(cursor: JobCursor, filters: unknown): string {
  const body = { t: cursor.createTime.toISOString(), i: cursor.id, f: filterKey(filters) };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The keyset position a ListJobs token carries; undefined for the first page. */
export function jobCursorOf(token: string, filters: unknown): JobCursor | undefined {
  if (token === '') return undefined;
  const v = decode(token);
  const t = typeof v['t'] === 'string' ? new Date(v['t']) : undefined;
  if (
    t === undefined ||
    Number.isNaN(t.getTime()) ||
    typeof v['i'] !== 'string' ||
    v['f'] !== filterKey(filters)
  )
    throw badToken();
  return { createTime: t, id: v['i'] };
}

/** The token for the page starting at `offset`. */
export function offsetPageToken(offset: number, filters: unknown): string {
  return Buffer.from(JSON.stringify({ o: offset, f: filterKey(filters) })).toString('base64url');
}

/** The offset a ListCheckpoints token carries; 0 for the first page. */
export function offsetOf(token: string, filters: unknown): number {
  if (token === '') return 0;
  const v = decode(token);
  const o = v['o'];
  if (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || v['f'] !== filterKey(filters))
    throw badToken();
  return o;
}
