import type { CanonicalRecord } from './canonical-record.js';
import type { CurationOptions } from './curation-options.js';
import { findEmptyTurn, findJunk, findPii } from './record-filters.js';

/** Removal reasons decided by a record alone, without looking at other records. */
export type FilterRemovalKind = 'empty_turn' | 'too_short' | 'too_long' | 'junk' | 'pii';

/**
 * What the recipe's filters say about one record: removed (with the reason and evidence), or
 * passed, with its token count and, when PII was redacted, the redacted record.
 */
export type RecordVerdict =
  | { readonly passed: false; readonly reason: FilterRemovalKind; readonly detail: string }
  | {
      readonly passed: true;
      /** Tokens under the curation tokenizer (after redaction); 0 when none counted. */
      readonly tokens: number;
      readonly redacted?: CanonicalRecord;
    };

/**
 * Runs the filters in the contract's order: empty turns, token length with `countTokens`,
 * junk, then PII (dropped, or redacted and counted again). A verdict depends on the record and
 * the recipe only, which is what lets curation judge every record once, before deduplication.
 */
export function judgeRecord(
  record: CanonicalRecord,
  options: CurationOptions,
  countTokens: ((record: CanonicalRecord) => number) | undefined,
): RecordVerdict {
  if (options.dropEmptyTurns) {
    const hit = findEmptyTurn(record);
    if (hit !== undefined) return { passed: false, reason: 'empty_turn', detail: hit.detail };
  }
  let tokens = 0;
  const counted = options.tokenLength !== undefined && countTokens !== undefined;
  if (options.tokenLength !== undefined && countTokens !== undefined) {
    const { minTokens, maxTokens } = options.tokenLength;
    tokens = countTokens(record);
    if (minTokens > 0 && tokens < minTokens)
      return { passed: false, reason: 'too_short', detail: `${tokens} tokens < min ${minTokens}` };
    if (maxTokens > 0 && tokens > maxTokens)
      return { passed: false, reason: 'too_long', detail: `${tokens} tokens > max ${maxTokens}` };
  }
  if (options.junk !== undefined) {
    const hit = findJunk(record, options.junk);
    if (hit !== undefined) return { passed: false, reason: 'junk', detail: hit.detail };
  }
  if (options.pii !== undefined) {
    const found = findPii(record, options.pii.kinds);
    if (found !== undefined) {
      if (options.pii.action === 'drop')
        return {
          passed: false,
          reason: 'pii',
          detail: `${found.matches} match(es) of ${found.kinds.join(', ')}`,
        };
      // Placeholders change the text, so the kept record is counted again.
      const redactedTokens = counted ? (countTokens?.(found.redacted) ?? 0) : 0;
      return { passed: true, tokens: redactedTokens, redacted: found.redacted };
    }
  }
  return { passed: true, tokens };
}
