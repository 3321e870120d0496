import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The set of record ids exact deduplication has kept, held compactly: each id (a SHA-256 in hex)
 * by its first 128 bits in one open-addressing table of 32-bit words, about 40 bytes per id
 * instead of a string and a hash-set entry. Two different records share a 128-bit prefix with
 * probability about n²/2^129, far below any other failure of the machine.
 */
export class RecordIdSet {
  private words = new Uint32Array(4 * 1024);
  private used = new Uint8Array(1024);
  private count = 0;

  /** Number of ids held. */
  get size(): number {
    return this.count;
  }

  private static key(id: string): [number, number, number, number] {
    if (!/^[0-9a-f]{32}/.test(id)) throw new Error(`record id "${id}" is not a hex SHA-256`);
    const word = (i: number): number => Number.parseInt(id.slice(i * 8, i * 8 + 8), 16) >>> 0;
    return [word(0), word(1), word(2), word(3)];
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private slot(k: readonly number[]): number {
    const mask = this.used.length - 1;
    // SHA-256 words are uniform already: the first one places the id.
    for (let s = (k[0] ?? 0) & mask; ; s = (s + 1) & mask) {
      if (this.used[s] === 0) return s;
      const w = s * 4;
      if (
        this.words[w] === k[0] &&
        this.words[w + 1] === k[1] &&
        this.words[w + 2] === k[2] &&
        this.words[w + 3] === k[3]
      )
        return s;
    }
  }

  /** Whether `id` was added. */
  has(id: string): boolean {
    return this.used[this.slot(RecordIdSet.key(id))] === 1;
  }

  /** Adds `id` (no effect when present). */
  add(id: string): void {
    const k = RecordIdSet.key(id);
    const s = this.slot(k);
    if (this.used[s] === 1) return;
    this.used[s] = 1;
    this.words.set(k, s * 4);
    this.count++;
    if (this.count * 10 > this.used.length * 7) this.grow();
  }

  private grow(): void {
    const { words, used } = this;
    this.words = new Uint32Array(words.length * 2);
    this.used = new Uint8Array(used.length * 2);
    for (let s = 0; s < used.length; s++) {
      if (used[s] === 0) continue;
      const k = [...words.subarray(s * 4, s * 4 + 4)];
      const to = this.slot(k);
      this.used[to] = 1;
      this.words.set(k, to * 4);
    }
  }
}

/** What an LSH index keeps per indexed record besides its band hashes. */
export interface SignatureStore {
  /** Stores a record's id and signature; returns its index (0, 1, ...). */
  append(key: string, signature: Uint32Array): number;
  /** The id and signature stored at `index`. */
  read(index: number): { key: string; signature: Uint32Array };
  /** Releases what the store holds. */
  close(): void;
}

const FLUSH_BYTES = 1 << 20;

/**
 * Signatures and ids of indexed records in a temporary file (fixed-size rows: the id's 32 bytes,
 * then the signature), so that near-duplicate detection keeps only its band hashes in memory.
 * Rows are read back only for LSH candidates, which are few. The file is removed on close.
 */
export class SpilledSignatures implements SignatureStore {
  private readonly dir: string;
  private readonly fd: number;
  private readonly rowBytes: number;
  private pending: Buffer;
  private pendingRows = 0;
  private flushedRows = 0;

  constructor(
    private readonly numPermutations: number,
    parent = tmpdir(),
  ) {
    this.dir = mkdtempSync(join(parent, 'lathe-lsh-'));
    this.fd = openSync(join(this.dir, 'signatures'), 'w+');
    this.rowBytes = 32 + 4 * numPermutations;
    this.pending = Buffer.alloc(
      Math.max(this.rowBytes, FLUSH_BYTES - (FLUSH_BYTES % this.rowBytes)),
    );
  }

  append(key: string, signature: Uint32Array): number {
    if (signature.length !== this.numPermutations)
      throw new Error(`signature of ${signature.length} values, expected ${this.numPermutations}`);
    const at = this.pendingRows * this.rowBytes;
    this.pending.write(key.slice(0, 64), at, 32, 'hex');
    Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).copy(
      this.pending,
      at + 32,
    );
    this.pendingRows++;
    if ((this.pendingRows + 1) * this.rowBytes > this.pending.length) this.flush();
    return this.flushedRows + this.pendingRows - 1;
  }

  private flush(): void {
    const bytes = this.pendingRows * this.rowBytes;
    let done = 0;
    while (done < bytes)
      done += writeSync(
        this.fd,
        this.pending,
        done,
        bytes - done,
        this.flushedRows * this.rowBytes + done,
      );
    this.flushedRows += this.pendingRows;
    this.pendingRows = 0;
  }

  read(index: number): { key: string; signature: Uint32Array } {
    let row: Buffer;
    if (index >= this.flushedRows) {
      const at = (index - this.flushedRows) * this.rowBytes;
      row = this.pending.subarray(at, at + this.rowBytes);
    } else {
      row = Buffer.alloc(this.rowBytes);
      let done = 0;
      while (done < this.rowBytes) {
        const n = readSync(this.fd, row, done, this.rowBytes - done, index * this.rowBytes + done);
        if (n === 0) throw new Error(`signature row ${index} is past the end of the spill file`);
        done += n;
      }
    }
    const signature = new Uint32Array(this.numPermutations);
    Buffer.from(signature.buffer).set(row.subarray(32));
    return { key: row.toString('hex', 0, 32), signature };
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Ids and signatures in memory (for small inputs and tests). */
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
