/**
 * A small seeded, splittable pseudo-random generator (xoshiro128** seeded through SplitMix32).
 *
 * Why our own: training must be bit-for-bit repeatable and resumable, so the generator's whole state
 * has to be readable and restorable (it goes into checkpoints), and independent streams (data order,
 * LoRA init, dropout masks) must be derivable by name so that adding one never shifts another.
 */

/** The complete state of a {@link SeededRandom}: four unsigned 32-bit words. */
export type RandomState = readonly [number, number, number, number];

/** SplitMix32 step: a good mixer to turn any 32-bit value into a well-spread seed word. */
function splitMix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over UTF-16 code units: a stable hash of a stream label. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Deterministic random numbers with an exportable state.
 *
 * `split(label)` derives an independent child stream from the current state and a label without
 * advancing this stream, so `rng.split('data')` and `rng.split('lora-init')` stay fixed whatever
 * else draws from `rng`.
 */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: RandomState) {
    [this.s0, this.s1, this.s2, this.s3] = state;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      // xoshiro's only fixed point; never reachable from fromSeed, guard restored states.
      throw new RangeError('random state must not be all zeros');
    }
  }

  /** A generator seeded from a non-negative integer seed (the `--seed` of a run). */
  static fromSeed(seed: number): SeededRandom {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    }
    // Fold the high bits in too, so seeds above 2^32 differ from their low word.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    let x = splitMix32(lo ^ splitMix32(hi));
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = splitMix32(x + i);
      words.push(x);
    }
    return new SeededRandom([words[0] ?? 1, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0]);
  }

  /** Restores a generator from {@link SeededRandom.state} (e.g. read from a checkpoint). */
  static fromState(state: RandomState): SeededRandom {
    for (const w of state) {
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) {
        throw new RangeError(`random state words must be uint32, got ${JSON.stringify(state)}`);
      }
    }
    return new SeededRandom(state);
  }

  /** The current state; `fromState(rng.state())` continues exactly where `rng` is. */
  state(): RandomState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** An independent stream named `label`, derived from the current state; this stream does not move. */
  split(label: string): SeededRandom {
    const h = hashLabel(label);
    let x = splitMix32(this.s0 ^ h);
    const words: number[] = [];
    const mine = [this.s0, this.s1, this.s2, this.s3];
    for (let i = 0; i < 4; i++) {
      x = splitMix32(x ^ (mine[i] ?? 0) ^ Math.imul(h, i + 1));
      words.push(x);
    }
    const [a = 1, b = 0, c = 0, d = 0] = words;
    return new SeededRandom((a | b | c | d) === 0 ? [1, 0, 0, 0] : [a, b, c, d]);
  }

  /** The next uniform unsigned 32-bit integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform double in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.nextFloat();
  }

  /** A uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    }
    // Rejection sampling: discard the top partial range that would favour small values.
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** Fills a new Float32Array of `length` with uniform values in [low, high). */
  uniformArray(length: number, low: number, high: number): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.uniform(low, high);
    return out;
  }

  /**
   * A dropout keep-mask already scaled as inverted dropout does: each entry is `1 / (1 - p)` with
   * probability `1 - p`, else 0 (so the expectation of `x * mask` is `x`).
   */
  dropoutMask(length: number, p: number): Float32Array {
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
    const out = new Float32Array(length);
    const keep = 1 / (1 - p);
    for (let i = 0; i < length; i++) out[i] = this.nextFloat() < p ? 0 : keep;
    return out;
  }
}
