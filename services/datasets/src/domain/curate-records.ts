import type { CanonicalRecord } from './canonical-record.js';
import { recordId, recordText } from './canonical-record.js';
import type { CurationOptions } from './curation-options.js';
import type { SignatureStore } from './curation-memory.js';
import { InMemorySignatures, RecordIdSet } from './curation-memory.js';
import { MinHasher, MinHashLshIndex } from './minhash.js';
import { findEmptyTurn, findJunk, findPii } from './record-filters.js';
import { isEvalRecord } from './record-split.js';
import type { SplitFigures } from './split-statistics.js';
import { SplitAccumulator } from './split-statistics.js';

/** A record entering curation, with where it came from. */
export interface SourceRecord {
  readonly id: string;
  readonly record: CanonicalRecord;
  readonly uploadId: string;
  readonly line: number;
  /** The line's metadata (kept with the record, never part of its id). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** Why a record was removed (the contract's RemovalReason, by name). */
export type RemovalKind =
  'exact_duplicate' | 'near_duplicate' | 'empty_turn' | 'too_short' | 'too_long' | 'junk' | 'pii';

/** A removed record with its evidence. */
export interface Removal {
  readonly recordId: string;
  readonly reason: RemovalKind;
  readonly detail: string;
  readonly duplicateOf: string;
  readonly similarity: number;
  readonly uploadId: string;
  readonly line: number;
  readonly excerpt: string;
}

/** A kept record and the split it was assigned to. */
export interface KeptRecord {
  readonly split: 'train' | 'eval';
  readonly id: string;
  readonly record: CanonicalRecord;
  readonly source: SourceRecord;
  /** Tokens under the curation tokenizer; 0 when curation used none. */
  readonly tokenCount: number;
}

/** What a curation run did. */
export interface CurationOutcome {
  readonly inputCount: number;
  readonly redactedCount: number;
  readonly removals: Removal[];
  readonly train: SplitFigures;
  readonly eval: SplitFigures;
}

const EXCERPT_CHARS = 200;

/**
 * Runs the recipe over records in order, as the contract orders the steps: exact dedupe,
 * near-duplicates, filters (empty turns, token length with `countTokens`, junk, PII), then the
 * split. The first record of a group
 * of duplicates is kept. Kept records go to `keep` as they are decided (awaited, so a slow sink
 * slows the run rather than filling memory); removals are returned with their evidence.
 *
 * Memory grows with the number of kept records only by compact typed arrays: 128-bit id
 * prefixes for exact dedupe ({@link RecordIdSet}) and LSH band keys for near-duplicates (the
 * signatures themselves go to `signatures()`, a temporary file in the service), about 0.5 KB per
 * kept record at 32 bands; never by their text.
 */
export async function curateRecords(
  input: AsyncIterable<SourceRecord>,
  options: CurationOptions,
  keep: (kept: KeptRecord) => Promise<void> | void,
  countTokens?: (record: CanonicalRecord) => number,
  signatures: () => SignatureStore = () => new InMemorySignatures(),
): Promise<CurationOutcome> {
  const seen = new RecordIdSet();
  const hasher =
    options.nearDuplicates === undefined ? undefined : new MinHasher(options.nearDuplicates);
  const index =
    options.nearDuplicates === undefined
      ? undefined
      : new MinHashLshIndex(
          options.nearDuplicates.threshold,
          options.nearDuplicates.numPermutations,
          signatures(),
        );
  try {
    return await curateWith(input, options, keep, countTokens, seen, hasher, index);
  } finally {
    index?.close();
  }
}

async function curateWith(
  input: AsyncIterable<SourceRecord>,
  options: CurationOptions,
  keep: (kept: KeptRecord) => Promise<void> | void,
  countTokens: ((record: CanonicalRecord) => number) | undefined,
  seen: RecordIdSet,
  hasher: MinHasher | undefined,
  index: MinHashLshIndex | undefined,
): Promise<CurationOutcome> {
  const removals: Removal[] = [];
  const train = new SplitAccumulator();
  const evalSplit = new SplitAccumulator();
  let inputCount = 0;
  let redactedCount = 0;

  for await (const source of input) {
    inputCount++;
    const text = recordText(source.record);
    const remove = (
      reason: RemovalKind,
      detail: string,
      duplicateOf = '',
      similarity = 0,
    ): void => {
      removals.push({
        recordId: source.id,
        reason,
        detail,
        duplicateOf,
        similarity,
        uploadId: source.uploadId,
        line: source.line,
        excerpt: text.slice(0, EXCERPT_CHARS),
      });
    };
    if (options.dedupeExact) {
      if (seen.has(source.id)) {
        remove('exact_duplicate', 'identical to an earlier record', source.id, 1);
        continue;
      }
    }
    let signature: Uint32Array | undefined;
    if (hasher !== undefined && index !== undefined) {
      signature = hasher.signature(text);
      const match = index.query(signature);
      if (match !== undefined) {
        remove(
          'near_duplicate',
          `estimated Jaccard ${match.similarity.toFixed(3)} >= ${options.nearDuplicates?.threshold ?? 0}`,
          match.key,
          match.similarity,
        );
        continue;
      }
    }
    if (options.dropEmptyTurns) {
      const hit = findEmptyTurn(source.record);
      if (hit !== undefined) {
        remove('empty_turn', hit.detail);
        continue;
      }
    }
    let tokens = 0;
    if (options.tokenLength !== undefined && countTokens !== undefined) {
      const { minTokens, maxTokens } = options.tokenLength;
      tokens = countTokens(source.record);
      if (minTokens > 0 && tokens < minTokens) {
        remove('too_short', `${tokens} tokens < min ${minTokens}`);
        continue;
      }
      if (maxTokens > 0 && tokens > maxTokens) {
        remove('too_long', `${tokens} tokens > max ${maxTokens}`);
        continue;
      }
    }
    if (options.junk !== undefined) {
      const hit = findJunk(source.record, options.junk);
      if (hit !== undefined) {
        remove('junk', hit.detail);
        continue;
      }
    }
    let record = source.record;
    let id = source.id;
    if (options.pii !== undefined) {
      const found = findPii(record, options.pii.kinds);
      if (found !== undefined) {
        if (options.pii.action === 'drop') {
          remove('pii', `${found.matches} match(es) of ${found.kinds.join(', ')}`);
          continue;
        }
        record = found.redacted;
        id = recordId(record);
        redactedCount++;
        // Placeholders change the text, so the kept record is counted again.
        if (countTokens !== undefined && options.tokenLength !== undefined)
          tokens = countTokens(record);
      }
    }
    // Only records that survive every step are indexed, so a removed record never causes
    // another removal.
    seen.add(source.id);
    if (index !== undefined && signature !== undefined) index.add(source.id, signature);
    const split = isEvalRecord(id, options.splitSeed, options.evalFraction) ? 'eval' : 'train';
    const counted = options.tokenLength !== undefined && countTokens !== undefined;
    (split === 'eval' ? evalSplit : train).add(record, counted ? tokens : undefined);
    await keep({ split, id, record, source, tokenCount: tokens });
  }
  return {
    inputCount,
    redactedCount,
    removals,
    train: train.figures(),
    eval: evalSplit.figures(),
  };
}
