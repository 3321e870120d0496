import { createHash } from 'node:crypto';
import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';
import type { Item } from '@lathe/contracts/lathe/preferences/v1/task';
import type { FieldChecks } from './field-limits.js';
import { LIMITS } from './field-limits.js';

/** Adds the violations of `items` (named `field`) to `checks`: sizes, candidates, gold answer. */
export function checkItems(checks: FieldChecks, field: string, items: readonly Item[]): void {
  if (items.length > LIMITS.items)
    checks.fail(field, `has ${String(items.length)} items, more than ${String(LIMITS.items)}`);
  const ids = new Set<string>();
  items.slice(0, LIMITS.items).forEach((item, i) => {
    const at = `${field}[${String(i)}]`;
    checks.short(`${at}.id`, item.id);
    if (item.id !== '' && ids.has(item.id))
      checks.fail(`${at}.id`, `"${item.id}" is repeated in the request`);
    ids.add(item.id);
    checks.messages(`${at}.prompt`, item.prompt, true);
    if (item.candidates.length < 2)
      checks.fail(`${at}.candidates`, 'must hold at least two candidates');
    if (item.candidates.length > LIMITS.candidates)
      checks.fail(
        `${at}.candidates`,
        `has ${String(item.candidates.length)}, more than ${String(LIMITS.candidates)}`,
      );
    const candidateIds = new Set<string>();
    item.candidates.slice(0, LIMITS.candidates).forEach((c, j) => {
      const cat = `${at}.candidates[${String(j)}]`;
      checks.short(`${cat}.id`, c.id);
      checks.short(`${cat}.source`, c.source);
      checks.messages(`${cat}.messages`, c.messages, true);
      const id = c.id === '' ? candidateId(j) : c.id;
      if (candidateIds.has(id)) checks.fail(`${cat}.id`, `"${id}" is repeated in the item`);
      candidateIds.add(id);
    });
    if (item.gold !== undefined) {
      checks.text(`${at}.gold.explanation`, item.gold.explanation, LIMITS.rationaleChars);
      const preferred = item.gold.preferredCandidateId;
      if (preferred !== '' && !candidateIds.has(preferred))
        checks.fail(
          `${at}.gold.preferredCandidateId`,
          `"${preferred.slice(0, 64)}" is not a candidate of the item`,
        );
    }
    checks.metadata(`${at}.metadata`, item.metadata);
  });
}

/** Server-assigned candidate id for position `j`: "a", "b", ... */
export function candidateId(j: number): string {
  return String.fromCharCode(97 + j);
}

// Whitespace differences do not make a different prompt for duplicate and overlap detection.
function normalized(messages: readonly ChatMessage[]): string {
  return JSON.stringify(messages.map((m) => [m.role, m.content.trim().replace(/\s+/g, ' ')]));
}

/** Hash of a prompt, for matching against evaluation sets. */
export function promptHash(prompt: readonly ChatMessage[]): Buffer {
  return createHash('sha256').update(normalized(prompt)).digest();
}

/** Hash of an item's content: prompt and the set of candidate responses (order and ids ignored). */
export function contentHash(item: Item): Buffer {
  const candidates = item.candidates.map((c) => normalized(c.messages)).sort();
  return createHash('sha256')
    .update(JSON.stringify([normalized(item.prompt), candidates]))
    .digest();
}
