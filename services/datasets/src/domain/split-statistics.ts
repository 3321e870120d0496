import type { CanonicalRecord } from './canonical-record.js';
import { recordText, recordTurns } from './canonical-record.js';

/** Summary of one numeric quantity (nearest-rank percentiles). */
export interface DistributionFigures {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly total: number;
}

/** Upper bounds (inclusive) of the character-length histogram buckets; the last is open. */
export const LENGTH_BUCKETS = [64, 128, 256, 512, 1024, 2048, 4096, 8192] as const;

/** Figures of one split. */
export interface SplitFigures {
  readonly recordCount: number;
  readonly characters: DistributionFigures;
  readonly turns: DistributionFigures;
  /** Tokens per record, when curation counted them. */
  readonly tokens?: DistributionFigures;
  /** Turns per role over the split. */
  readonly roleCounts: Readonly<Record<string, number>>;
  /** Records per character-length bucket, keyed `<=64`, ..., `>8192`. */
  readonly characterHistogram: Readonly<Record<string, number>>;
}

/**
 * How many times each value occurred: enough for exact nearest-rank percentiles (Hyndman & Fan
 * type 1), in memory that grows with the number of distinct values (lengths, turn and token
 * counts: bounded by the longest record), not with the number of records.
 */
class ValueCounts {
  private readonly counts = new Map<number, number>();
  private n = 0;
  private sum = 0;

  get size(): number {
    return this.n;
  }

  add(value: number): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
    this.n++;
    this.sum += value;
  }

  figures(): DistributionFigures {
    const values = Float64Array.from(this.counts.keys()).sort();
    // The value at 0-based rank ceil(p·n) - 1 of the sorted multiset.
    const rank = (p: number): number => {
      const wanted = Math.max(0, Math.ceil(p * this.n) - 1);
      let seen = 0;
      for (const v of values) {
        seen += this.counts.get(v) ?? 0;
        if (seen > wanted) return v;
      }
      return 0;
    };
    return {
      min: values[0] ?? 0,
      max: values[values.length - 1] ?? 0,
      mean: this.n === 0 ? 0 : this.sum / this.n,
      p50: rank(0.5),
      p95: rank(0.95),
      total: this.sum,
    };
  }
}

/** Summarizes values; all zeros when there are none. */
export function distribution(values: readonly number[]): DistributionFigures {
  const counts = new ValueCounts();
  for (const v of values) counts.add(v);
  return counts.figures();
}

function bucketOf(chars: number): string {
  const upper = LENGTH_BUCKETS.find((b) => chars <= b);
  return upper === undefined ? `>${LENGTH_BUCKETS[LENGTH_BUCKETS.length - 1]}` : `<=${upper}`;
}

/** Accumulates the figures of one split, record by record, in memory independent of their number. */
export class SplitAccumulator {
  private readonly chars = new ValueCounts();
  private readonly turns = new ValueCounts();
  private readonly tokens = new ValueCounts();
  private readonly roles = new Map<string, number>();
  private readonly histogram = new Map<string, number>();

  /** Counts one kept record. */
  add(record: CanonicalRecord, tokens?: number): void {
    if (tokens !== undefined) this.tokens.add(tokens);
    const length = [...recordText(record)].length;
    this.chars.add(length);
    const turns = recordTurns(record);
    this.turns.add(record.type === 'text' ? 1 : turns.length);
    if (record.type !== 'text')
      for (const t of turns) this.roles.set(t.role, (this.roles.get(t.role) ?? 0) + 1);
    const bucket = bucketOf(length);
    this.histogram.set(bucket, (this.histogram.get(bucket) ?? 0) + 1);
  }

  /** The figures so far, keys sorted so that equal inputs serialize equally. */
  figures(): SplitFigures {
    const sortedObject = (m: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      recordCount: this.chars.size,
      characters: this.chars.figures(),
      turns: this.turns.figures(),
      ...(this.tokens.size === 0 ? {} : { tokens: this.tokens.figures() }),
      roleCounts: sortedObject(this.roles),
      characterHistogram: sortedObject(this.histogram),
    };
  }
}
