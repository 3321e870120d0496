import type { Checkpoint } from './curation-checkpoint.js';
import type { RecordBits } from './curation-memory.js';
import type { ExternalSorter } from './external-sort.js';

/** Words of an exact-dedupe entry: the id's first 128 bits, then position × 2 + eligible. */
export const ID_ENTRY_WORDS = 5;

/**
 * The entry exact dedupe sorts for a record: its id's first 128 bits (a SHA-256 in hex, so two
 * different records share them with probability about n²/2^129), then its position in the input
 * and whether it passed the filters (an eligible record may be kept; another never is).
 */
export function idEntry(id: string, position: number, eligible: boolean): Uint32Array {
  if (!/^[0-9a-f]{32}/.test(id)) throw new Error(`record id "${id}" is not a hex SHA-256`);
  const entry = new Uint32Array(ID_ENTRY_WORDS);
  for (let k = 0; k < 4; k++) entry[k] = Number.parseInt(id.slice(k * 8, k * 8 + 8), 16);
  entry[4] = position * 2 + (eligible ? 1 : 0);
  return entry;
}

/**
 * Exact dedupe's links, from the id entries sorted by (id, position): every record that follows
 * an eligible record with the same id is linked to the first such one as `[later, first]` in
 * `links`, and marked in `copies`. The final pass drops a linked record when the record it is
 * linked to was kept. Ids are SHA-256 of the canonical record, so records sharing one share
 * content and therefore every filter's verdict: whether the first copy is kept decides the rest.
 *
 * @returns the number of links
 */
export async function linkExactDuplicates(
  ids: ExternalSorter,
  links: ExternalSorter,
  copies: RecordBits,
  checkpoint: Checkpoint,
): Promise<number> {
  const cursor = ids.sorted();
  const group = new Uint32Array(4);
  let first = -1;
  let started = false;
  let count = 0;
  while (cursor.next()) {
    const e = cursor.entry;
    if (
      !started ||
      e[0] !== group[0] ||
      e[1] !== group[1] ||
      e[2] !== group[2] ||
      e[3] !== group[3]
    ) {
      group.set(e.subarray(0, 4));
      first = -1;
      started = true;
    }
    const word = e[4] ?? 0;
    const position = word >>> 1;
    if (first >= 0) {
      links.add2(position, first);
      copies.set(position);
      count++;
    } else if ((word & 1) === 1) first = position;
    if (checkpoint.due()) await checkpoint.pause();
  }
  return count;
}
