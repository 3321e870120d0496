import { DataFileError } from '../data/data-file-error.js';
import { readDataFile, type RejectedRecord } from '../data/read-data-file.js';
import {
  normalizePreferenceRecord,
  type PreferenceExample,
  type PreferenceFormat,
} from './preference-example.js';

/** Preference examples read from a file, in file order. */
export interface PreferenceData {
  readonly path: string;
  readonly examples: PreferenceExample[];
  /** Line of each example in the file. */
  readonly lines: number[];
  /** Layouts seen, with counts. */
  readonly formats: ReadonlyMap<PreferenceFormat, number>;
  /** Records refused (only with `skipBadRecords`; otherwise the first one throws). */
  readonly rejected: RejectedRecord[];
}

/**
 * Reads preference records from JSON Lines or a JSON array ({@link normalizePreferenceRecord}
 * lists the layouts). A bad record fails the load with its line and reason, and the number of
 * other bad records, unless `skipBadRecords` is set, in which case they are dropped and listed.
 *
 * @throws DataFileError naming the file and line
 */
export async function loadPreferenceData(
  path: string,
  options: { skipBadRecords?: boolean; agreementWeights?: boolean } = {},
): Promise<PreferenceData> {
  const parsed = await readDataFile(path);
  const examples: PreferenceExample[] = [];
  const lines: number[] = [];
  const formats = new Map<PreferenceFormat, number>();
  const rejected = [...parsed.rejected];
  for (const record of parsed.records) {
    const n = normalizePreferenceRecord(record.value, {
      agreementWeights: options.agreementWeights ?? false,
    });
    if (!n.ok) {
      rejected.push({ line: record.line, reason: n.reason });
      continue;
    }
    examples.push(n.example);
    lines.push(record.line);
    formats.set(n.format, (formats.get(n.format) ?? 0) + 1);
  }
  rejected.sort((a, b) => a.line - b.line);
  const first = rejected[0];
  if (first && !options.skipBadRecords) {
    const more = rejected.length - 1;
    throw new DataFileError(
      path,
      first.line,
      `${first.reason}${more > 0 ? ` (and ${more} more bad records)` : ''}`,
    );
  }
  if (examples.length === 0) throw new DataFileError(path, undefined, 'no preference records');
  return { path, examples, lines, formats, rejected };
}
