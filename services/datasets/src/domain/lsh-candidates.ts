import type { Checkpoint } from './curation-checkpoint.js';
import type { RecordBits } from './curation-memory.js';
import type { ExternalSorter } from './external-sort.js';

/** Default of {@link lshCandidates}'s `maxAnchors`. */
export const DEFAULT_MAX_ANCHORS_PER_BUCKET = 16;

/** What {@link lshCandidates} found. */
export interface CandidateFigures {
  /** Candidate pairs written (a pair sharing several bands is written once per band). */
  readonly pairs: number;
  /** Buckets that had more eligible records than anchors (later records skipped some). */
  readonly cappedBuckets: number;
}

/**
 * Near-duplicate candidates from the band entries (`[band key, position × 2 + eligible]`) sorted
 * by key then position: every record of a bucket is paired, as `[later, earlier]` in `pairs`,
 * with the bucket's anchors before it. Anchors are the bucket's first `maxAnchors` records that
 * may be kept (eligible, and not a later copy of an identical record, which is never kept).
 *
 * The cap is what keeps a huge bucket (thousands of records sharing a band, say a template)
 * linear: each record is compared with at most `maxAnchors` earlier ones per band, so the work
 * and the pairs written are at most n × bands × maxAnchors. It can only cost recall, and only
 * there: a record whose kept partner is not among the first anchors of any bucket they share is
 * not found. The first record of a group of near-duplicates is the one kept and comes first in
 * its buckets, so such groups are still removed whole. Candidates are checked on the full
 * signatures in the final pass, against kept records only.
 */
export async function lshCandidates(
  bands: ExternalSorter,
  pairs: ExternalSorter,
  copies: RecordBits | undefined,
  maxAnchors: number,
  checkpoint: Checkpoint,
): Promise<CandidateFigures> {
  if (!(Number.isInteger(maxAnchors) && maxAnchors >= 1))
    throw new Error(`maxAnchors must be a positive integer, got ${maxAnchors}`);
  const cursor = bands.sorted();
  const anchors = new Uint32Array(maxAnchors);
  let held = 0;
  let key = 0;
  let last = -1;
  let capped = false;
  let pairCount = 0;
  let cappedBuckets = 0;
  while (cursor.next()) {
    const e = cursor.entry;
    const word = e[1] ?? 0;
    const position = word >>> 1;
    if (last < 0 || e[0] !== key) {
      key = e[0] ?? 0;
      held = 0;
      capped = false;
    } else if (position === last) {
      continue; // two bands of one record with the same key
    }
    last = position;
    for (let a = 0; a < held; a++) pairs.add2(position, anchors[a] ?? 0);
    pairCount += held;
    if ((word & 1) === 1 && copies?.has(position) !== true) {
      if (held < maxAnchors) anchors[held++] = position;
      else if (!capped) {
        capped = true;
        cappedBuckets++;
      }
    }
    if (checkpoint.due()) await checkpoint.pause();
  }
  return { pairs: pairCount, cappedBuckets };
}
