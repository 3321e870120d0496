import { createHash } from 'node:crypto';
import type { PageRequest, PageResponse } from '@lathe/contracts/lathe/common/v1/paging';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { LatheError } from '@lathe/service-kit';

/** Items per page when the request says 0 (paging.proto). */
export const DEFAULT_PAGE_SIZE = 50;
/** Most items per page; larger requests are lowered to it, never refused (paging.proto). */
export const MAX_PAGE_SIZE = 1000;

function filterKey(filters: unknown): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 16);
}

/**
 * One page of `items` (already in listing order). The token carries the offset and a hash of
 * the filters, so a token reused with other filters is refused with INVALID_PAGE_TOKEN.
 */
export function pageOf<T>(
  items: readonly T[],
  page: PageRequest | undefined,
  filters: unknown,
): { items: T[]; page: PageResponse } {
  const size = Math.min(page?.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const key = filterKey(filters);
  let offset = 0;
  const token = page?.pageToken ?? '';
  if (token !== '') {
    let parsed: { o?: unknown; f?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (
      typeof parsed.o !== 'number' ||
      !Number.isInteger(parsed.o) ||
      parsed.o < 0 ||
      parsed.f !== key
    )
      throw LatheError.invalidArgument(
        [
          {
            field: 'page.page_token',
            description: 'is not a token of this listing (filters changed?)',
          },
        ],
        { reason: ErrorReason.ERROR_REASON_INVALID_PAGE_TOKEN },
      );
    offset = parsed.o;
  }
  const end = offset + Math.max(size, 1);
  return {
    items: items.slice(offset, end),
    page: {
      nextPageToken:
        end < items.length
          ? Buffer.from(JSON.stringify({ o: end, f: key })).toString('base64url')
          : '',
      totalSize: items.length,
    },
  };
}
