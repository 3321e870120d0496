import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CanonicalRecord } from './canonical-record.js';
import { recordId, recordText } from './canonical-record.js';
import { Checkpoint } from './curation-checkpoint.js';
import { RecordBits, SpilledSignatures } from './curation-memory.js';
import type { CurationOptions } from './curation-options.js';
import { idEntry, ID_ENTRY_WORDS, linkExactDuplicates } from './duplicate-links.js';
import { ExternalSorter } from './external-sort.js';
import type { SortedCursor } from './external-sort.js';
import { JsonlSpill } from './jsonl-spill.js';
import { DEFAULT_MAX_ANCHORS_PER_BUCKET, lshCandidates } from './lsh-candidates.js';
import { bandKeys, estimateSimilarity, lshBands, MinHasher } from './minhash.js';
import type { RecordVerdict } from './record-verdict.js';
import { judgeRecord } from './record-verdict.js';
import { RemovalLog } from './removal-log.js';
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

/** How curation's external memory was used (for tests and benchmarks; not in the manifest). */
export interface CurationWork {
  /** Sorted run files written (0 when every sort fit its share of the memory budget). */
  readonly sortRuns: number;
  /** Records linked to an earlier record with the same id. */
  readonly exactLinks: number;
  /** LSH candidate pairs (one per shared band) checked against kept records. */
  readonly candidatePairs: number;
  /** LSH buckets with more possible partners than `maxAnchorsPerBucket`. */
  readonly cappedBuckets: number;
}

/** What a curation run did. */
export interface CurationOutcome {
  readonly inputCount: number;
  readonly redactedCount: number;
  /** The removals, on disk until the holder of the outcome closes the log. */
  readonly removals: RemovalLog;
  readonly train: SplitFigures;
  readonly eval: SplitFigures;
  readonly work: CurationWork;
}

/** Where and in how much memory curation works: only the bucket cap can change a result. */
export interface CurationResources {
  /**
   * Parent of the run's temporary directory (removed when the run ends) and of the removal log's
   * (removed when the log is closed). Default: the OS's.
   */
  readonly tempDir?: string;
  /** Bytes for the sorts' buffers (default {@link DEFAULT_CURATION_MEMORY_BYTES}). */
  readonly memoryBytes?: number;
  /**
   * Earliest possible partners per LSH bucket each record is compared with (default 16): keeps
   * huge buckets linear, and may miss a kept partner only in a bucket that reaches it.
   */
  readonly maxAnchorsPerBucket?: number;
  /** Cancels the run (the temporary directory is removed all the same). */
  readonly signal?: AbortSignal;
}

/** Default memory budget of curation's sorts: 16 MiB. */
export const DEFAULT_CURATION_MEMORY_BYTES = 16 * 1024 * 1024;

const EXCERPT_CHARS = 200;
/** Positions are stored doubled (with an eligibility bit) in 32-bit words. */
const MAX_RECORDS = 2 ** 31;

/** The removal of `source` with its evidence and the start of its text. */
export function removalOf(
  source: SourceRecord,
  reason: RemovalKind,
  detail: string,
  duplicateOf = '',
  similarity = 0,
): Removal {
  return {
    recordId: source.id,
    reason,
    detail,
    duplicateOf,
    similarity,
    uploadId: source.uploadId,
    line: source.line,
    excerpt: recordText(source.record).slice(0, EXCERPT_CHARS),
  };
}

/** One record as kept on disk between curation's passes. */
interface SpilledRecord {
  readonly source: SourceRecord;
  readonly verdict: RecordVerdict;
}

/**
 * Runs the recipe over records as the contract orders the steps: exact dedupe, near-duplicates,
 * filters (empty turns, token length with `countTokens`, junk, PII), then the split. The first
 * record of a group of duplicates is kept, and only kept records remove others. Kept records go to
 * `keep` in input order as they are decided (awaited, so a slow sink slows the run rather than
 * filling memory); removals are returned with their evidence in a {@link RemovalLog} on disk,
 * which the caller closes.
 *
 * Memory does not grow with the input: it works in external memory under a temporary directory.
 * Pass 1 reads the input once, judges each record's filters (they depend on the record alone),
 * writes the record, its MinHash signature, its id entry and its LSH band entries to disk
 * (sorted in runs within `memoryBytes`). Exact dedupe then links each record to the first
 * eligible record with its id ({@link linkExactDuplicates}); near-duplicate detection pairs
 * records sharing an LSH bucket ({@link lshCandidates}), each sorted by the later record. The
 * final pass reads the records back in order with one bit per record saying which were kept: a
 * record is an exact duplicate if its link points to a kept record, else a near duplicate if a
 * candidate partner was kept and its full signature is similar enough (the most similar, the
 * earliest of equals), else its filter verdict applies. That is the decision a streaming pass
 * over an index of kept records makes, exactly, as long as no bucket reaches the cap.
 */
export async function curateRecords(
  input: AsyncIterable<SourceRecord>,
  options: CurationOptions,
  keep: (kept: KeptRecord) => Promise<void> | void,
  countTokens?: (record: CanonicalRecord) => number,
  resources: CurationResources = {},
): Promise<CurationOutcome> {
  const memory = resources.memoryBytes ?? DEFAULT_CURATION_MEMORY_BYTES;
  const maxAnchors = resources.maxAnchorsPerBucket ?? DEFAULT_MAX_ANCHORS_PER_BUCKET;
  if (!(Number.isInteger(memory) && memory >= 64 * 1024))
    throw new Error(`curation memory must be at least 64 KiB, got ${memory} bytes`);
  const parent = resources.tempDir ?? tmpdir();
  const dir = mkdtempSync(join(parent, 'lathe-curate-'));
  const removals = new RemovalLog(parent);
  let succeeded = false;
  const near = options.nearDuplicates;
  const signatures =
    near === undefined ? undefined : new SpilledSignatures(near.numPermutations, dir);
  const records = new JsonlSpill<SpilledRecord>(join(dir, 'records.jsonl'));
  try {
    const checkpoint = new Checkpoint(resources.signal);
    // Shares of the budget, so that the sorts alive at the same time stay within it: pass 1
    // fills ids and bands; linking reads ids while filling links; pairing reads bands while
    // filling pairs; the final pass reads links and pairs.
    const ids = options.dedupeExact
      ? new ExternalSorter(dir, 'ids', ID_ENTRY_WORDS, memory / 8)
      : undefined;
    const bands = near === undefined ? undefined : new ExternalSorter(dir, 'bands', 2, memory / 2);
    const hasher = near === undefined ? undefined : new MinHasher(near);
    const lsh = near === undefined ? undefined : lshBands(near.numPermutations, near.threshold);

    for await (const source of input) {
      const position = records.size;
      if (position >= MAX_RECORDS)
        throw new Error(`curation takes at most ${MAX_RECORDS} records in one run`);
      const verdict = judgeRecord(source.record, options, countTokens);
      records.append({ source, verdict });
      ids?.add(idEntry(source.id, position, verdict.passed));
      if (hasher !== undefined && lsh !== undefined && bands !== undefined) {
        const sig = hasher.signature(recordText(source.record));
        signatures?.append(source.id, sig);
        const word = position * 2 + (verdict.passed ? 1 : 0);
        for (const key of bandKeys(sig, lsh.bands, lsh.rows)) bands.add2(key, word);
      }
      if (checkpoint.due()) await checkpoint.pause();
    }

    const bits = new RecordBits(records.size);
    let links: ExternalSorter | undefined;
    let exactLinks = 0;
    if (ids !== undefined) {
      links = new ExternalSorter(dir, 'links', 2, memory / 8);
      exactLinks = await linkExactDuplicates(ids, links, bits, checkpoint);
    }
    let pairs: ExternalSorter | undefined;
    let candidates = { pairs: 0, cappedBuckets: 0 };
    if (bands !== undefined) {
      pairs = new ExternalSorter(dir, 'pairs', 2, memory / 4);
      candidates = await lshCandidates(bands, pairs, bits, maxAnchors, checkpoint);
    }
    bits.clear(); // from here on: which records were kept
    const decided = await finalPass(
      records.read(),
      options,
      keep,
      removals,
      { bits, signatures, links: links?.sorted(), pairs: pairs?.sorted() },
      options.tokenLength !== undefined && countTokens !== undefined,
      checkpoint,
    );
    const sortRuns = [ids, links, bands, pairs].reduce((n, s) => n + (s?.runCount ?? 0), 0);
    succeeded = true;
    return {
      ...decided,
      removals,
      inputCount: records.size,
      work: {
        sortRuns,
        exactLinks,
        candidatePairs: candidates.pairs,
        cappedBuckets: candidates.cappedBuckets,
      },
    };
  } finally {
    if (!succeeded) removals.close();
    signatures?.close();
    records.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the final pass decides with: kept bits, signatures, and the sorted links and pairs. */
interface Evidence {
  readonly bits: RecordBits;
  readonly signatures: SpilledSignatures | undefined;
  readonly links: SortedCursor | undefined;
  readonly pairs: SortedCursor | undefined;
}

/** A sorted cursor of `[position, other]` entries read alongside the records, in step. */
class ByPosition {
  private more: boolean;

  constructor(private readonly cursor: SortedCursor | undefined) {
    this.more = cursor?.next() ?? false;
  }

  /** Calls `visit` with each entry's `other` for `position` (the cursor must not be behind). */
  forEach(position: number, visit: (other: number) => void): void {
    const c = this.cursor;
    if (c === undefined) return;
    while (this.more && (c.entry[0] ?? 0) < position) this.more = c.next();
    while (this.more && c.entry[0] === position) {
      visit(c.entry[1] ?? 0);
      this.more = c.next();
    }
  }
}

async function finalPass(
  records: AsyncIterable<SpilledRecord>,
  options: CurationOptions,
  keep: (kept: KeptRecord) => Promise<void> | void,
  removals: RemovalLog,
  evidence: Evidence,
  counted: boolean,
  checkpoint: Checkpoint,
): Promise<Pick<CurationOutcome, 'redactedCount' | 'train' | 'eval'>> {
  const { bits, signatures } = evidence;
  const links = new ByPosition(evidence.links);
  const pairs = new ByPosition(evidence.pairs);
  const threshold = options.nearDuplicates?.threshold ?? 0;
  const train = new SplitAccumulator();
  const evalSplit = new SplitAccumulator();
  let redactedCount = 0;
  let position = -1;

  for await (const { source, verdict } of records) {
    position++;
    if (checkpoint.due()) await checkpoint.pause();
    let copyOfKept = false;
    links.forEach(position, (first) => {
      copyOfKept ||= bits.has(first);
    });
    if (copyOfKept) {
      removals.append(
        removalOf(source, 'exact_duplicate', 'identical to an earlier record', source.id, 1),
      );
      continue;
    }
    let best: { key: string; similarity: number } | undefined;
    let own: Uint32Array | undefined;
    let previous = -1;
    // Pairs come sorted by partner, so of equally similar partners the earliest wins.
    pairs.forEach(position, (partner) => {
      if (partner === previous || !bits.has(partner) || signatures === undefined) return;
      previous = partner; // a pair sharing several bands comes once per band
      own ??= signatures.read(position).signature;
      const other = signatures.read(partner);
      const similarity = estimateSimilarity(own, other.signature);
      if (similarity >= threshold && (best === undefined || similarity > best.similarity))
        best = { key: other.key, similarity };
    });
    if (best !== undefined) {
      removals.append(
        removalOf(
          source,
          'near_duplicate',
          `estimated Jaccard ${best.similarity.toFixed(3)} >= ${threshold}`,
          best.key,
          best.similarity,
        ),
      );
      continue;
    }
    if (!verdict.passed) {
      removals.append(removalOf(source, verdict.reason, verdict.detail));
      continue;
    }
    bits.set(position);
    const record = verdict.redacted ?? source.record;
    const id = verdict.redacted === undefined ? source.id : recordId(verdict.redacted);
    if (verdict.redacted !== undefined) redactedCount++;
    const split = isEvalRecord(id, options.splitSeed, options.evalFraction) ? 'eval' : 'train';
    (split === 'eval' ? evalSplit : train).add(record, counted ? verdict.tokens : undefined);
    await keep({ split, id, record, source, tokenCount: verdict.tokens });
  }
  return { redactedCount, train: train.figures(), eval: evalSplit.figures() };
}
