import { DataFileError } from './data-file-error.js';
import { readDataFile, type RejectedRecord } from './read-data-file.js';
import { normalizeSftRecord, type SftExample, type SftFormat } from './sft-example.js';

/** An example with the line it came from, so later failures can still point at the file. */
export interface SourcedExample {
  readonly line: number;
  readonly format: SftFormat;
  readonly example: SftExample;
}

/** A normalized data file: the usable examples and every rejected record with its reason. */
export interface SftData {
  readonly path: string;
  readonly examples: SourcedExample[];
  readonly rejected: RejectedRecord[];
}

/** What to do with bad records. */
export interface LoadSftDataOptions {
  /**
   * false (default): the first bad record fails the load with its line and reason (and a count of
   * the others). true: bad records are dropped and listed in `rejected` for the caller to report.
   */
  readonly skipBadRecords?: boolean;
}

/**
 * Reads an SFT data file (JSON Lines or JSON array; OpenAI `messages`, Alpaca, ShareGPT
 * `conversations` or plain `text` records) and normalizes every record.
 *
 * @throws DataFileError naming the file and line of the first bad record (unless skipping), or
 *   when no usable record remains
 */
export async function loadSftData(
  path: string,
  options: LoadSftDataOptions = {},
): Promise<SftData> {
  const parsed = await readDataFile(path);
  const rejected = [...parsed.rejected];
  const examples: SourcedExample[] = [];
  for (const { line, value } of parsed.records) {
    const n = normalizeSftRecord(value);
    if (n.ok) examples.push({ line, format: n.format, example: n.example });
    else rejected.push({ line, reason: n.reason });
  }
  rejected.sort((a, b) => a.line - b.line);
  const first = rejected[0];
  if (first !== undefined && options.skipBadRecords !== true) {
    const more = rejected.length > 1 ? ` (and ${rejected.length - 1} more bad records)` : '';
    throw new DataFileError(path, first.line, `${first.reason}${more}`);
  }
  if (examples.length === 0) throw new DataFileError(path, undefined, 'no usable records');
  return { path, examples, rejected };
}
