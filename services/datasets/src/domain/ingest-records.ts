import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { CanonicalRecord } from './canonical-record.js';
import { canonicalJson, recordId } from './canonical-record.js';
import { sourceLines } from './record-source.js';
import type { ConcreteFormat } from './record-format.js';
import { detectFormat, formatName, kindOfFormat, normalizeLine } from './record-format.js';
import { stableStringify } from './version-manifest.js';

/** A line that became a record, ready to stage. */
export interface StagedRecord {
  readonly line: number;
  readonly id: string;
  readonly json: string;
  readonly record: CanonicalRecord;
  /** The line's fields outside its format's content as JSON with sorted keys; '' when none. */
  readonly metadata: string;
}

/** A rejected line as reported to the caller. */
export interface RejectedLine {
  readonly line: number;
  readonly reason: string;
  readonly fieldPath: string;
  readonly excerpt: string;
}

/** What an ingest did. `rejected` holds at most `maxReported` lines; the count holds all. */
export interface IngestResult {
  readonly detectedFormat: RecordFormat;
  readonly acceptedCount: number;
  readonly rejectedCount: number;
  readonly rejected: RejectedLine[];
}

/** Options of {@link ingestRecords}. */
export interface IngestOptions {
  /** The layout asked for; AUTO detects it from the first line that parses as JSON. */
  readonly format: RecordFormat;
  /** The dataset's kind: a line of the other kind is rejected. */
  readonly kind: DatasetKind;
  /** Most rejected lines to keep for the report (all are counted). */
  readonly maxReported: number;
  /** Records per call of `stage`. Default 500. */
  readonly batchSize?: number;
  /** Receives accepted records in line order, a batch at a time; awaited (back-pressure). */
  readonly stage: (batch: StagedRecord[]) => Promise<void>;
}

const EXCERPT_CHARS = 200;

/**
 * Parses a JSONL (or JSON array) body arriving as byte chunks: each non-blank line is parsed, normalized to the
 * canonical form and staged; each bad line is counted and (up to a limit) reported with its
 * number and reason. Memory stays bounded by one batch and the report, whatever the body size.
 *
 * @throws Error when the stated format does not hold records of the dataset's kind
 */
export async function ingestRecords(
  chunks: AsyncIterable<Uint8Array>,
  options: IngestOptions,
): Promise<IngestResult> {
  const batchSize = options.batchSize ?? 500;
  let format: ConcreteFormat | undefined =
    options.format === RecordFormat.RECORD_FORMAT_AUTO
      ? undefined
      : (options.format as ConcreteFormat);
  if (format !== undefined && kindOfFormat(format) !== options.kind)
    throw new FormatKindMismatchError(format, options.kind);
  const rejected: RejectedLine[] = [];
  let rejectedCount = 0;
  let acceptedCount = 0;
  let batch: StagedRecord[] = [];
  const reject = (line: number, text: string, reason: string, fieldPath: string): void => {
    rejectedCount++;
    if (rejected.length < options.maxReported)
      rejected.push({ line, reason, fieldPath, excerpt: text.slice(0, EXCERPT_CHARS) });
  };
  for await (const source of sourceLines(chunks)) {
    const { line, text } = source;
    if (!source.ok) {
      reject(line, text, source.reason, '');
      continue;
    }
    const value = source.value;
    if (format === undefined) {
      const seen = detectFormat(value);
      if (seen === undefined) {
        reject(
          line,
          text,
          'no known format: expected messages, conversations, instruction/output, text, or chosen/rejected',
          '',
        );
        continue;
      }
      if (kindOfFormat(seen) !== options.kind) {
        reject(
          line,
          text,
          `a ${formatName(seen)} record cannot go into a ${kindName(options.kind)} dataset`,
          '',
        );
        continue;
      }
      format = seen;
    }
    const result = normalizeLine(value, format);
    if (!result.ok) {
      reject(line, text, result.reason, result.fieldPath);
      continue;
    }
    acceptedCount++;
    batch.push({
      line,
      id: recordId(result.record),
      json: canonicalJson(result.record),
      record: result.record,
      metadata: result.metadata === undefined ? '' : stableStringify(result.metadata),
    });
    if (batch.length >= batchSize) {
      await options.stage(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await options.stage(batch);
  return {
    detectedFormat: format ?? options.format,
    acceptedCount,
    rejectedCount,
    rejected,
  };
}

function kindName(kind: DatasetKind): string {
  return kind === DatasetKind.DATASET_KIND_PREFERENCE ? 'preference' : 'sft';
}

/** A stated format whose records do not fit the dataset's kind. */
export class FormatKindMismatchError extends Error {
  constructor(format: ConcreteFormat, kind: DatasetKind) {
    super(
      `format ${formatName(format)} holds ${kindName(kindOfFormat(format))} records, but the dataset is ${kindName(kind)}`,
    );
    this.name = 'FormatKindMismatchError';
  }
}
