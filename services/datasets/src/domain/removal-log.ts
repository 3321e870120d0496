import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Removal, RemovalKind } from './curate-records.js';
import { JsonlSpill } from './jsonl-spill.js';

/**
 * The removals of a curation run, with their evidence, in a temporary file rather than memory
 * (a run may remove millions of records): appended as curation decides, counted per reason, and
 * read back in order as often as needed (to store them). Whoever holds the outcome closes it,
 * which deletes the file.
 */
export class RemovalLog {
  private readonly dir: string;
  private readonly spill: JsonlSpill<Removal>;
  private readonly byReason = new Map<RemovalKind, number>();

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, 'lathe-removals-'));
    this.spill = new JsonlSpill(join(this.dir, 'removals.jsonl'));
  }

  /** Removals logged. */
  get size(): number {
    return this.spill.size;
  }

  /** Logs a removal. */
  append(removal: Removal): void {
    this.spill.append(removal);
    this.byReason.set(removal.reason, (this.byReason.get(removal.reason) ?? 0) + 1);
  }

  /** Removals per reason, keys sorted (equal runs give equal manifests). */
  counts(): Partial<Record<RemovalKind, number>> {
    return Object.fromEntries([...this.byReason.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** The removals in the order they were decided; no more appends once read. */
  read(): AsyncGenerator<Removal> {
    return this.spill.read();
  }

  /** Deletes the file. */
  close(): void {
    this.spill.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
