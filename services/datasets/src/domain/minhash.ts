/** Parameters of near-duplicate detection, with the contract's defaults applied. */
export interface MinHashOptions {
  /** Estimated Jaccard similarity at or above which two records are near-duplicates. */
  readonly threshold: number;
  /** Words per shingle. */
  readonly shingleSize: number;
  /** Signature length (hash functions). */
  readonly numPermutations: number;
  /** Seed of the hash functions. */
  readonly seed: number;
}

/** Murmur3's 32-bit finalizer: a bijection on 32-bit integers with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The set of word shingles of a text (lowercased words, `size` per shingle), as 32-bit hashes. */
export function shingleHashes(text: string, size: number): Set<number> {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== '');
  const out = new Set<number>();
  if (words.length === 0) return out;
  if (words.length < size) {
    out.add(fnv1a(words.join(' ')));
    return out;
  }
  for (let i = 0; i + size <= words.length; i++) out.add(fnv1a(words.slice(i, i + size).join(' ')));
  return out;
}

/** Exact Jaccard similarity of two sets (1 for two empty sets). */
export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/**
 * MinHash signatures (Broder 1997): for each of `numPermutations` hash functions, the minimum
 * hash over the shingle set. The fraction of equal positions of two signatures estimates the
 * Jaccard similarity of the sets. Hash function i is fmix32(h XOR salt_i), a bijection of the
 * 32-bit shingle hash, with salts drawn from the seed.
 */
export class MinHasher {
  private readonly salts: Uint32Array;

  constructor(readonly options: MinHashOptions) {
    this.salts = new Uint32Array(options.numPermutations);
    let s = fmix32((options.seed ^ 0x9e3779b9) >>> 0);
    for (let i = 0; i < this.salts.length; i++) {
      s = fmix32((s + 0x9e3779b9) >>> 0);
      this.salts[i] = s;
    }
  }

  /** The signature of a text. An empty text gets an all-ones signature. */
  signature(text: string): Uint32Array {
    const sig = new Uint32Array(this.salts.length).fill(0xffffffff);
    for (const h of shingleHashes(text, this.options.shingleSize)) {
      for (let i = 0; i < sig.length; i++) {
        const v = fmix32((h ^ (this.salts[i] ?? 0)) >>> 0);
        if (v < (sig[i] ?? 0)) sig[i] = v;
      }
    }
    return sig;
  }
}

/** Estimated Jaccard similarity: the fraction of equal signature positions. */
export function estimateSimilarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/**
 * Bands × rows for locality-sensitive hashing (Leskovec, Rajaraman, Ullman, Mining of Massive
 * Datasets, 3.4). A pair becomes a candidate with probability 1 - (1 - s^r)^b, an S-curve whose
 * midpoint is about (1/b)^(1/r). We take the split whose midpoint sits at or just below the
 * threshold, favouring recall; candidates are then checked on the full signature.
 */
export function lshBands(
  numPermutations: number,
  threshold: number,
): { bands: number; rows: number } {
  let best = { bands: numPermutations, rows: 1 };
  let bestGap = Infinity;
  for (let rows = 1; rows <= numPermutations; rows++) {
    if (numPermutations % rows !== 0) continue;
    const bands = numPermutations / rows;
    const midpoint = Math.pow(1 / bands, 1 / rows);
    const gap = threshold - 0.05 - midpoint;
    if (gap >= 0 && gap < bestGap) {
      best = { bands, rows };
      bestGap = gap;
    }
  }
  return best;
}

/**
 * The LSH band keys of a signature, `bands` of `rows` values each: band b's key is a hash of the
 * band number and its rows. Two different buckets may share a key; that only adds a candidate,
 * which the full-signature check then rejects.
 */
export function bandKeys(sig: Uint32Array, bands: number, rows: number): Uint32Array {
  const keys = new Uint32Array(bands);
  for (let b = 0; b < bands; b++) {
    let h = fmix32((0x811c9dc5 ^ b) >>> 0);
    for (let i = b * rows; i < (b + 1) * rows; i++) h = fmix32((h ^ (sig[i] ?? 0)) >>> 0);
    keys[b] = h;
  }
  return keys;
}
