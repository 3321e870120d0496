import { parsePreferenceRecord } from '@lathe/llm';
import type { PreferenceLayout, PreferenceTurn } from '@lathe/llm';
import type { CanonicalMessage, CanonicalRecord } from './canonical-record.js';

/** The result of normalizing one preference line: the pair, or why it was rejected. */
export type NormalizedPreference =
  { readonly ok: true; readonly record: CanonicalRecord } | PreferenceFailure;

/** Why a preference line was rejected, with the JSON path of the offending field. */
export interface PreferenceFailure {
  readonly ok: false;
  readonly reason: string;
  readonly fieldPath: string;
}

function fail(fieldPath: string, reason: string): PreferenceFailure {
  return { ok: false, reason, fieldPath };
}

const canonical = (list: readonly PreferenceTurn[]): CanonicalMessage[] =>
  list.map((m) => ({ role: m.role, content: m.content }));

/**
 * A preference line in `layout`, read by `@lathe/llm`'s `parsePreferenceRecord` (the DPO
 * trainer's own reader, so a line this service accepts is one the trainer reads), as a canonical
 * pair: a text prompt becomes one user turn. Continuations may hold several turns here; two
 * identical ones are refused (the pair teaches nothing).
 */
export function normalizePreference(
  record: Record<string, unknown>,
  layout: PreferenceLayout,
): NormalizedPreference {
  const parsed = parsePreferenceRecord(record, layout);
  if (!parsed.ok) return fail(parsed.fieldPath, parsed.reason);
  const { prompt, chosen, rejected } = parsed.record;
  if (chosen.length === 0) return fail('chosen', '"chosen" has no continuation');
  if (rejected.length === 0) return fail('rejected', '"rejected" has no continuation');
  if (JSON.stringify(chosen) === JSON.stringify(rejected))
    return fail('rejected', '"chosen" and "rejected" are identical');
  return {
    ok: true,
    record: {
      type: 'preference',
      prompt: typeof prompt === 'string' ? [{ role: 'user', content: prompt }] : canonical(prompt),
      chosen: canonical(chosen),
      rejected: canonical(rejected),
    },
  };
}
