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
