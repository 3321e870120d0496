import { describe, expect, it } from 'vitest';
import { pageOf } from './paging.js';

const items = Array.from({ length: 120 }, (_, i) => i);

describe('pageOf', () => {
  it('walks a listing in pages of the asked size (default 50) with opaque tokens', () => {
    const first = pageOf(items, { pageSize: 0, pageToken: '' }, { name: 'a' });
    expect(first.items).toEqual(items.slice(0, 50));
    expect(first.page.totalSize).toBe(120);
    const second = pageOf(
      items,
      { pageSize: 0, pageToken: first.page.nextPageToken },
      { name: 'a' },
    );
    const third = pageOf(
      items,
      { pageSize: 0, pageToken: second.page.nextPageToken },
      { name: 'a' },
    );
    expect([...second.items, ...third.items]).toEqual(items.slice(50));
    expect(third.page.nextPageToken).toBe('');
    expect(pageOf(items, { pageSize: 5000, pageToken: '' }, {}).items).toHaveLength(120);
  });

  it('refuses a token used with other filters, or a made-up one', () => {
    const first = pageOf(items, { pageSize: 10, pageToken: '' }, { name: 'a' });
    expect(() =>
      pageOf(items, { pageSize: 10, pageToken: first.page.nextPageToken }, { name: 'b' }),
    ).toThrow(/page_token: is not a token of this listing/);
    expect(() => pageOf(items, { pageSize: 10, pageToken: 'nonsense' }, { name: 'a' })).toThrow(
      /page_token/,
    );
  });
});
