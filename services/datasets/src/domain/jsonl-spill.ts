import { createReadStream, closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { jsonlLines } from './jsonl-lines.js';

// Small on purpose: lines waiting in a large buffer live long enough to be promoted to V8's old
// space, which then grows with the run (1 MiB here cost 30 MiB of peak RSS at 300k records).
const FLUSH_BYTES = 1 << 16;

/**
 * Values written one JSON line each to a temporary file through a 64 KiB buffer, then read back
 * in order, as many times as needed: curation keeps each record here between its passes instead
 * of in memory. `close` deletes the file.
 */
export class JsonlSpill<T> {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingChars = 0;
  private count = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  /** Values appended so far. */
  get size(): number {
    return this.count;
  }

  /** Appends a value (a JSON-serializable one: it comes back through `JSON.parse`). */
  append(value: T): void {
    if (this.fd === undefined) throw new Error(`spill ${this.path} is finished: no more appends`);
    const line = `${JSON.stringify(value)}\n`;
    this.pending.push(line);
    this.pendingChars += line.length;
    this.count++;
    if (this.pendingChars >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined || this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending.join(''), 'utf8');
    for (let done = 0; done < bytes.length;)
      done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.pending = [];
    this.pendingChars = 0;
  }

  private finish(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The values in the order they were appended; appending ends with the first read. */
  async *read(): AsyncGenerator<T> {
    this.finish();
    const stream = createReadStream(this.path, { highWaterMark: 1 << 16 });
    try {
      for await (const { text } of jsonlLines(stream)) yield JSON.parse(text) as T;
    } finally {
      stream.destroy();
    }
  }

  /** Deletes the file. */
  close(): void {
    this.pending = [];
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.path, { force: true });
  }
}
