// Test support, never imported by the service: the in-memory MinHash LSH index that curation's
// external-memory decisions are checked against (`curate-records.test.ts`), with its band table
// and in-memory signature store.
import type { SignatureStore } from '../curation-memory.js';
import { bandKeys, estimateSimilarity, lshBands } from '../minhash.js';

/** Ids and signatures in memory: the reference beside the spilled store. */
export class InMemorySignatures implements SignatureStore {
  private readonly rows: { key: string; signature: Uint32Array }[] = [];

  append(key: string, signature: Uint32Array): number {
    this.rows.push({ key, signature });
    return this.rows.length - 1;
  }

  read(index: number): { key: string; signature: Uint32Array } {
    const row = this.rows[index];
    if (row === undefined) throw new Error(`no signature row ${index}`);
    return row;
  }

  close(): void {
    this.rows.length = 0;
  }
}

/**
 * A multimap from 32-bit keys to record indexes in one open-addressing table (two typed arrays,
 * 8 bytes a slot, at most 70% full): the LSH band buckets of every indexed record.
 */
export class BandTable {
  private keys = new Uint32Array(1 << 12);
  private values = new Int32Array(1 << 12).fill(-1);
  private count = 0;

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  /** Adds `value` under `key` (a key may hold many values). */
  add(key: number, value: number): void {
    this.place(key >>> 0, value);
    this.count++;
    if (this.count * 10 > this.values.length * 7) this.grow();
  }

  /** Calls `visit` with every value under `key`. */
  forEach(key: number, visit: (value: number) => void): void {
    const mask = this.values.length - 1;
    const k = key >>> 0;
    for (let s = fmix(k) & mask; this.values[s] !== -1; s = (s + 1) & mask)
      if (this.keys[s] === k) visit(this.values[s] ?? -1);
  }

  private place(key: number, value: number): void {
    const mask = this.values.length - 1;
    let s = fmix(key) & mask;
    while (this.values[s] !== -1) s = (s + 1) & mask;
    this.keys[s] = key;
    this.values[s] = value;
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Uint32Array(keys.length * 2);
    this.values = new Int32Array(values.length * 2).fill(-1);
    for (let s = 0; s < values.length; s++) {
      const v = values[s] ?? -1;
      if (v !== -1) this.place(keys[s] ?? 0, v);
    }
  }
}

// Band keys are hashes already, but spreading them again keeps clusters of close keys apart.
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The best earlier match of a record. */
export interface NearMatch {
  readonly key: string;
  readonly similarity: number;
}

/**
 * An LSH index over the signatures of kept records, consulted record by record: the direct way
 * to decide near-duplicates, which curation (external memory, `curate-records.ts`) must
 * reproduce. Band keys live in one typed-array table ({@link BandTable}); ids and signatures go
 * to `store` (in memory, or the service's `SpilledSignatures` file) and are read back only for
 * candidates.
 */
export class MinHashLshIndex {
  private readonly table = new BandTable();
  private readonly bands: number;
  private readonly rows: number;

  constructor(
    private readonly threshold: number,
    numPermutations: number,
    private readonly store: SignatureStore = new InMemorySignatures(),
  ) {
    ({ bands: this.bands, rows: this.rows } = lshBands(numPermutations, threshold));
  }

  /**
   * The most similar indexed record at or above the threshold, if any; of equally similar ones,
   * the one indexed first (as external curation chooses).
   */
  query(sig: Uint32Array): NearMatch | undefined {
    let best: (NearMatch & { index: number }) | undefined;
    const seen = new Set<number>();
    for (const key of bandKeys(sig, this.bands, this.rows))
      this.table.forEach(key, (i) => {
        if (seen.has(i)) return;
        seen.add(i);
        const other = this.store.read(i);
        const similarity = estimateSimilarity(sig, other.signature);
        if (
          similarity >= this.threshold &&
          (best === undefined ||
            similarity > best.similarity ||
            (similarity === best.similarity && i < best.index))
        )
          best = { key: other.key, similarity, index: i };
      });
    return best === undefined ? undefined : { key: best.key, similarity: best.similarity };
  }

  /** Indexes a kept record. */
  add(key: string, sig: Uint32Array): void {
    const i = this.store.append(key, sig);
    for (const k of bandKeys(sig, this.bands, this.rows)) this.table.add(k, i);
  }

  /** Releases the signature store. */
  close(): void {
    this.store.close();
  }
}
