import { Readable } from 'node:stream';
import { SeededRandom } from '@lathe/llm';
import { describe, expect, it } from 'vitest';
import type { CanonicalRecord } from './canonical-record.js';
import { recordId } from './canonical-record.js';
import { curateRecords } from './curate-records.js';
import type { Removal, SourceRecord } from './curate-records.js';
import { resolveCurationOptions } from './curation-options.js';
import { jaccard, lshBands, MinHasher, shingleHashes } from './minhash.js';

const SHINGLE = 3;
const THRESHOLD = 0.7;

/**
 * Originals of 80 random words from a 5,000-word vocabulary, each with one variant made by
 * replacing 1, 2, 3, 5, 8, 12 or 20 words: true shingle Jaccard from about 0.93 down to 0.2.
 */
function constructedPairs(): { original: string; variant: string; truth: number }[] {
  const random = SeededRandom.fromSeed(42);
  const next = (): number => random.nextFloat();
  const word = (): string => `w${Math.floor(next() * 5000)}`;
  const edits = [1, 2, 3, 5, 8, 12, 20];
  const pairs = [];
  for (let i = 0; i < 280; i++) {
    const words = Array.from({ length: 80 }, word);
    const changed = [...words];
    const k = edits[i % edits.length] ?? 1;
    for (let e = 0; e < k; e++) changed[Math.floor(next() * changed.length)] = `x${i}-${e}`;
    const original = words.join(' ');
    const variant = changed.join(' ');
    pairs.push({
      original,
      variant,
      truth: jaccard(shingleHashes(original, SHINGLE), shingleHashes(variant, SHINGLE)),
    });
  }
  return pairs;
}

function text(t: string): CanonicalRecord {
  return { type: 'text', text: t };
}

function sources(records: CanonicalRecord[]): AsyncIterable<SourceRecord> {
  return Readable.from(
    records.map((record, i) => ({ id: recordId(record), record, uploadId: 'u', line: i + 1 })),
  );
}

describe('near-duplicate removal (MinHash + LSH)', () => {
  it('finds constructed near-duplicates with high precision and recall at the threshold', async () => {
    const pairs = constructedPairs();
    const records = pairs.flatMap((p) => [text(p.original), text(p.variant)]);
    const options = resolveCurationOptions({
      dedupeExact: false,
      dropEmptyTurns: false,
      nearDuplicates: {
        jaccardThreshold: THRESHOLD,
        shingleSize: SHINGLE,
        numPermutations: 128,
        seed: 9,
      },
      tokenLength: undefined,
      junk: undefined,
      pii: undefined,
      split: undefined,
    });
    const outcome = await curateRecords(sources(records), options, () => undefined);
    const removed = new Map<string, Removal>();
    for await (const r of outcome.removals.read()) removed.set(r.recordId, r);
    outcome.removals.close();
    let tp = 0;
    let fp = 0;
    let fn = 0;
    const byLevel = new Map<string, { found: number; total: number }>();
    for (const p of pairs) {
      const variantId = recordId(text(p.variant));
      const hit = removed.get(variantId);
      const predicted = hit !== undefined && hit.duplicateOf === recordId(text(p.original));
      const actual = p.truth >= THRESHOLD;
      if (predicted && actual) tp++;
      else if (predicted) fp++;
      else if (actual) fn++;
      const level = p.truth.toFixed(1);
      const entry = byLevel.get(level) ?? { found: 0, total: 0 };
      byLevel.set(level, { found: entry.found + (predicted ? 1 : 0), total: entry.total + 1 });
    }
    // No original is ever removed: unrelated documents share no shingles.
    expect(pairs.some((p) => removed.has(recordId(text(p.original))))).toBe(false);
    const precision = tp / (tp + fp);
    const recall = tp / (tp + fn);
    console.log(
      `near-duplicates at Jaccard ${THRESHOLD}, ${SHINGLE}-word shingles, 128 permutations, ${JSON.stringify(lshBands(128, THRESHOLD))}: ` +
        `precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn}); removed per true-Jaccard level ` +
        [...byLevel.entries()]
          .sort()
          .map(([l, v]) => `${l}: ${v.found}/${v.total}`)
          .join(', '),
    );
    expect(precision).toBeGreaterThanOrEqual(0.9);
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });

  it('estimates Jaccard within 0.1 of the exact value with 256 permutations', () => {
    const hasher = new MinHasher({
      threshold: 0.5,
      shingleSize: SHINGLE,
      numPermutations: 256,
      seed: 1,
    });
    for (const p of constructedPairs().slice(0, 40)) {
      const a = hasher.signature(p.original);
      const b = hasher.signature(p.variant);
      let same = 0;
      for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
      expect(Math.abs(same / a.length - p.truth)).toBeLessThan(0.1);
    }
  });

  it('chooses LSH bands whose S-curve midpoint sits just below the threshold', () => {
    for (const t of [0.5, 0.7, 0.85, 0.95]) {
      const { bands, rows } = lshBands(128, t);
      expect(bands * rows).toBe(128);
      const midpoint = Math.pow(1 / bands, 1 / rows);
      expect(midpoint).toBeLessThanOrEqual(t - 0.05);
    }
  });
});
