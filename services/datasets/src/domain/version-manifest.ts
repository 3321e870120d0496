import type { CurationOutcome, RemovalKind } from './curate-records.js';
import type { SplitFigures } from './split-statistics.js';

/** A blob of a version: its digest hex, size and record count. */
export interface ManifestBlob {
  readonly sha256: string;
  readonly size: number;
  readonly records: number;
}

/**
 * What a version is, stored as its own artifact; the version's digest is this manifest's
 * digest. It holds content only (no dataset name, number, time or upload ids), so the same
 * records curated with the same recipe from the same parent give the same digest anywhere.
 */
export interface VersionManifest {
  readonly schema: 'lathe.datasets.version/v1';
  readonly kind: 'sft' | 'preference';
  /** The curation recipe as proto3 JSON. */
  readonly spec: unknown;
  /** The parent version's manifest digest hex, or null. */
  readonly parent: string | null;
  readonly train: ManifestBlob;
  readonly eval: ManifestBlob | null;
  readonly inputCount: number;
  readonly redactedCount: number;
  readonly removed: Readonly<Partial<Record<RemovalKind, number>>>;
  readonly statistics: { readonly train: SplitFigures; readonly eval: SplitFigures };
}

/** Counts of removals per reason, keys sorted. */
export function removalCounts(outcome: CurationOutcome): Partial<Record<RemovalKind, number>> {
  return outcome.removals.counts();
}

/** JSON with object keys sorted at every level: equal values give equal bytes. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
