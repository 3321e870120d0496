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

/** Nearest-rank percentile of sorted values (Hyndman & Fan type 1). */
function nearestRank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

/** Summarizes values; all zeros when there are none. */
export function distribution(values: readonly number[]): DistributionFigures {
  const sorted = Float64Array.from(values).sort();
  const total = values.reduce((a, b) => a + b, 0);
  return {
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    mean: values.length === 0 ? 0 : total / values.length,
    p50: nearestRank(sorted, 0.5),
    p95: nearestRank(sorted, 0.95),
    total,
  };
}

function bucketOf(chars: number): string {
  const upper = LENGTH_BUCKETS.find((b) => chars <= b);
  return upper === undefined ? `>${LENGTH_BUCKETS[LENGTH_BUCKETS.length - 1]}` : `<=${upper}`;
}

/** Accumulates the figures of one split, record by record. */
export class SplitAccumulator {
  private readonly chars: number[] = [];
  private readonly turns: number[] = [];
  private readonly tokens: number[] = [];
  private readonly roles = new Map<string, number>();
  private readonly histogram = new Map<string, number>();

  /** Counts one kept record. */
  add(record: CanonicalRecord, tokens?: number): void {
    if (tokens !== undefined) this.tokens.push(tokens);
    const length = [...recordText(record)].length;
    this.chars.push(length);
    const turns = recordTurns(record);
    this.turns.push(record.type === 'text' ? 1 : turns.length);
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
      recordCount: this.chars.length,
      characters: distribution(this.chars),
      turns: distribution(this.turns),
      ...(this.tokens.length === 0 ? {} : { tokens: distribution(this.tokens) }),
      roleCounts: sortedObject(this.roles),
      characterHistogram: sortedObject(this.histogram),
    };
  }
}
