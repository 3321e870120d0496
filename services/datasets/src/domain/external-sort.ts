import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

/** Runs merged at once; more runs are first merged in groups of this many into longer runs. */
const FAN_IN = 32;
/** Entries held before the first growth of the in-memory buffer (it doubles up to the budget). */
const INITIAL_ENTRIES = 1024;
// Two-word entries are sorted as native 64-bit integers, which needs the high word second.
const LITTLE_ENDIAN = endianness() === 'LE';

/** Sorted entries, one at a time. */
export interface SortedCursor {
  /** Moves to the next entry; false at the end. */
  next(): boolean;
  /** The current entry's words (valid until the next call to `next`). */
  readonly entry: Uint32Array;
}

/**
 * Sorts fixed-width entries (`width` unsigned 32-bit words, ordered word by word) in at most
 * `budgetBytes` of memory: entries fill a buffer of at most that size, a full buffer is sorted
 * and written as a run file under `dir`, and `sorted()` merges the runs (in groups of 32 when
 * there are more, each run read through a buffer of budget/32). Inputs that fit the budget are
 * sorted in memory and never touch the disk. Run files are deleted as they are consumed; the
 * caller owns `dir` and removes it at the end, whatever happens.
 */
export class ExternalSorter {
  private buffer = new Uint32Array(0);
  private count = 0;
  private readonly capacity: number;
  private readonly readEntries: number;
  private readonly runs: string[] = [];
  private runNumber = 0;
  private total = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    readonly width: number,
    budgetBytes: number,
  ) {
    if (!Number.isInteger(width) || width < 1) throw new Error(`entry width ${width} is not 1+`);
    // Sorting wider entries goes through an index of one word per entry.
    const perEntry = 4 * width + (this.nativeSort ? 0 : 4);
    this.capacity = Math.floor(budgetBytes / perEntry);
    this.readEntries = Math.floor(budgetBytes / FAN_IN / (4 * width));
    if (this.capacity < 2 || this.readEntries < 1)
      throw new Error(
        `a sort budget of ${budgetBytes} bytes is too small for ${4 * width}-byte entries`,
      );
  }

  private get nativeSort(): boolean {
    return this.width === 2 && LITTLE_ENDIAN;
  }

  /** Entries added so far. */
  get size(): number {
    return this.total;
  }

  /** Run files written so far (0 while everything fits the budget). */
  get runCount(): number {
    return this.runNumber;
  }

  /** Adds an entry of `width` words. */
  add(words: ArrayLike<number>): void {
    if (words.length !== this.width)
      throw new Error(`entry of ${words.length} words, expected ${this.width}`);
    const at = this.reserve();
    for (let k = 0; k < this.width; k++) this.buffer[at + k] = words[k] ?? 0;
  }

  /** Adds a two-word entry without building an array (the hot path of LSH and links). */
  add2(first: number, second: number): void {
    if (this.width !== 2) throw new Error(`add2 on entries of ${this.width} words`);
    const at = this.reserve();
    this.buffer[at] = first;
    this.buffer[at + 1] = second;
  }

  private reserve(): number {
    if (this.count === this.capacity) this.spill();
    if (this.count * this.width === this.buffer.length) {
      const next = new Uint32Array(
        Math.min(this.capacity, Math.max(INITIAL_ENTRIES, this.count * 2)) * this.width,
      );
      next.set(this.buffer);
      this.buffer = next;
    }
    this.total++;
    return this.count++ * this.width;
  }

  /** Sorts the buffered entries in place. */
  private sortBuffer(): void {
    const w = this.width;
    const n = this.count;
    const buf = this.buffer;
    if (this.nativeSort) {
      // As 64-bit integers on a little-endian machine the second word is the high half: swap,
      // sort natively, swap back.
      swapPairs(buf, n);
      new BigUint64Array(buf.buffer, 0, n).sort();
      swapPairs(buf, n);
      return;
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => compareAt(buf, a * w, buf, b * w, w));
    const sorted = new Uint32Array(n * w);
    for (let i = 0; i < n; i++) {
      const from = (order[i] ?? 0) * w;
      sorted.set(buf.subarray(from, from + w), i * w);
    }
    this.buffer = sorted;
  }

  private newRunPath(): string {
    return join(this.dir, `${this.name}-${this.runNumber++}.run`);
  }

  /** Sorts the buffer and writes it as a run file. */
  private spill(): void {
    this.sortBuffer();
    const path = this.newRunPath();
    writeWhole(path, this.buffer.subarray(0, this.count * this.width));
    this.runs.push(path);
    this.count = 0;
  }

  /**
   * The entries in order. Call once, after the last `add`; the sorter's memory then goes to the
   * merge's read buffers.
   */
  sorted(): SortedCursor {
    if (this.runs.length === 0) {
      this.sortBuffer();
      return new BufferCursor(this.buffer, this.count, this.width);
    }
    if (this.count > 0) this.spill();
    this.buffer = new Uint32Array(0);
    while (this.runs.length > FAN_IN) {
      const group = this.runs.splice(0, FAN_IN);
      const out = this.newRunPath();
      writeCursor(out, new MergeCursor(group, this.width, this.readEntries), this.width);
      this.runs.push(out);
    }
    return new MergeCursor(this.runs.splice(0), this.width, this.readEntries);
  }
}

function swapPairs(buf: Uint32Array, n: number): void {
  for (let i = 0; i < 2 * n; i += 2) {
    const t = buf[i] ?? 0;
    buf[i] = buf[i + 1] ?? 0;
    buf[i + 1] = t;
  }
}

function compareAt(a: Uint32Array, i: number, b: Uint32Array, j: number, width: number): number {
  for (let k = 0; k < width; k++) {
    const x = a[i + k] ?? 0;
    const y = b[j + k] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function writeWhole(path: string, words: Uint32Array): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    for (let done = 0; done < bytes.length;)
      done += writeSync(fd, bytes, done, bytes.length - done);
  } finally {
    closeSync(fd);
  }
}

/** Writes every entry of a cursor to a new run file through a small buffer. */
function writeCursor(path: string, cursor: SortedCursor, width: number): void {
  const fd = openSync(path, 'w');
  try {
    const out = new Uint32Array(16_384 * width);
    let at = 0;
    const flush = (): void => {
      const bytes = new Uint8Array(out.buffer, 0, at * 4);
      for (let done = 0; done < bytes.length;)
        done += writeSync(fd, bytes, done, bytes.length - done);
      at = 0;
    };
    while (cursor.next()) {
      out.set(cursor.entry, at);
      at += width;
      if (at === out.length) flush();
    }
    flush();
  } finally {
    closeSync(fd);
  }
}

class BufferCursor implements SortedCursor {
  readonly entry: Uint32Array;
  private at = -1;

  constructor(
    private readonly buffer: Uint32Array,
    private readonly count: number,
    private readonly width: number,
  ) {
    this.entry = new Uint32Array(width);
  }

  next(): boolean {
    if (++this.at >= this.count) return false;
    this.entry.set(this.buffer.subarray(this.at * this.width, (this.at + 1) * this.width));
    return true;
  }
}

/** A run file read front to back through a fixed buffer; deleted once read to the end. */
class RunReader {
  private readonly fd: number;
  private readonly buffer: Uint32Array;
  private filled = 0; // words in the buffer
  private offset = 0; // bytes of the file read so far
  /** Word index of the current entry in `buffer`. */
  at = 0;

  constructor(
    private readonly path: string,
    private readonly width: number,
    entries: number,
  ) {
    this.fd = openSync(path, 'r');
    this.buffer = new Uint32Array(entries * width);
  }

  get words(): Uint32Array {
    return this.buffer;
  }

  /** Moves to the next entry; false (and the file closed and deleted) at the end. */
  advance(first: boolean): boolean {
    if (!first) this.at += this.width;
    if (this.at < this.filled) return true;
    const bytes = new Uint8Array(this.buffer.buffer);
    let got = 0;
    for (;;) {
      const n = readSync(this.fd, bytes, got, bytes.length - got, this.offset + got);
      if (n === 0) break;
      got += n;
      if (got === bytes.length) break;
    }
    if (got % (4 * this.width) !== 0)
      throw new Error(`run file ${this.path} ends inside an entry (${this.offset + got} bytes)`);
    this.offset += got;
    this.filled = got / 4;
    this.at = 0;
    if (got > 0) return true;
    closeSync(this.fd);
    rmSync(this.path, { force: true });
    return false;
  }
}

/** A k-way merge of sorted run files through a binary heap of their current entries. */
class MergeCursor implements SortedCursor {
  readonly entry: Uint32Array;
  private readonly heap: RunReader[] = [];
  private started = false;

  constructor(
    paths: readonly string[],
    private readonly width: number,
    readEntries: number,
  ) {
    this.entry = new Uint32Array(width);
    for (const path of paths) {
      const reader = new RunReader(path, width, readEntries);
      if (reader.advance(true)) this.push(reader);
    }
  }

  private less(a: RunReader, b: RunReader): boolean {
    return compareAt(a.words, a.at, b.words, b.at, this.width) < 0;
  }

  private push(reader: RunReader): void {
    const h = this.heap;
    h.push(reader);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      const [p, c] = [h[parent], h[i]];
      if (p === undefined || c === undefined || !this.less(c, p)) break;
      [h[parent], h[i]] = [c, p];
      i = parent;
    }
  }

  private siftDown(): void {
    const h = this.heap;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      const at = (k: number): RunReader | undefined => h[k];
      if (l < h.length && this.less(at(l) as RunReader, at(m) as RunReader)) m = l;
      if (r < h.length && this.less(at(r) as RunReader, at(m) as RunReader)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as RunReader, h[i] as RunReader];
      i = m;
    }
  }

  next(): boolean {
    const h = this.heap;
    if (this.started) {
      const top = h[0];
      if (top === undefined) return false;
      if (!top.advance(false)) {
        const last = h.pop();
        if (h.length > 0 && last !== undefined) h[0] = last;
      }
      this.siftDown();
    }
    this.started = true;
    const top = h[0];
    if (top === undefined) return false;
    this.entry.set(top.words.subarray(top.at, top.at + this.width));
    return true;
  }
}
