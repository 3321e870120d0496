import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One bit per record of a run, by position in the input: which records curation has kept (and,
 * before that, which are later copies of an earlier record). The only memory curation spends per
 * record: n/8 bytes, 1.25 MB for ten million records.
 */
export class RecordBits {
  private readonly bits: Uint8Array;

  constructor(readonly count: number) {
    this.bits = new Uint8Array(Math.ceil(count / 8));
  }

  /** Whether record `i`'s bit is set. */
  has(i: number): boolean {
    return ((this.bits[i >>> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }

  /** Sets record `i`'s bit. */
  set(i: number): void {
    if (!(i >= 0 && i < this.count)) throw new Error(`record ${i} is outside 0..${this.count - 1}`);
    this.bits[i >>> 3] = (this.bits[i >>> 3] ?? 0) | (1 << (i & 7));
  }

  /** Clears every bit. */
  clear(): void {
    this.bits.fill(0);
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
 * Signatures and ids of records in a temporary file (fixed-size rows: the id's 32 bytes, then the
 * signature), row i for the i-th record appended: curation writes every record's here and reads
 * back only those of LSH candidates, which are few. The file is removed on close.
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
