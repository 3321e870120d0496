import { readFile } from 'node:fs/promises';
import { ModelFileError } from '../config/model-file-error.js';
import { IGNORE_INDEX } from '../data/pack-sequences.js';
import type { TrainingBatch } from '../data/training-batch.js';

/**
 * Builds a right-padded {@link TrainingBatch} from rows of ids and unshifted per-token labels
 * (Hugging Face's convention: `labels[t]` is the token expected at t, -100 for none; the shift
 * happens here). Rows may differ in length; shorter ones are padded with id 0, segment 0 and
 * no target.
 */
export function tokenBatchFromRows(
  rows: readonly (readonly number[])[],
  labels: readonly (readonly number[])[],
): TrainingBatch {
  const batchSize = rows.length;
  const length = Math.max(...rows.map((r) => r.length));
  const inputIds = new BigInt64Array(batchSize * length);
  const positionIds = new BigInt64Array(batchSize * length);
  const segmentIds = new BigInt64Array(batchSize * length);
  const shifted = new BigInt64Array(batchSize * length).fill(BigInt(IGNORE_INDEX));
  let targetTokens = 0;
  rows.forEach((row, b) => {
    const rowLabels = labels[b] ?? [];
    row.forEach((id, t) => {
      inputIds[b * length + t] = BigInt(id);
      positionIds[b * length + t] = BigInt(t);
      segmentIds[b * length + t] = 1n;
      const next = t + 1 < row.length ? (rowLabels[t + 1] ?? IGNORE_INDEX) : IGNORE_INDEX;
      shifted[b * length + t] = BigInt(next);
      if (next !== IGNORE_INDEX) targetTokens++;
    });
  });
  return {
    batchSize,
    seqLen: length,
    inputIds,
    positionIds,
    segmentIds,
    labels: shifted,
    targetTokens,
  };
}

/**
 * Parses the `--tokens` JSON of `lathe grads`:
 * - `[[ids...], ...]`: every token after the first of each row is a target;
 * - `{"input_ids": [[...]], "loss_mask": [[0/1...]]}`: tokens with mask 1 (after the first) are targets;
 * - `{"input_ids": [[...]], "labels": [[...]]}`: Hugging Face labels, -100 ignored.
 *
 * @param vocabSize ids must be below it
 * @throws ModelFileError naming the file and the field at fault
 */
export function parseTokenBatch(text: string, file: string, vocabSize: number): TrainingBatch {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ModelFileError(file, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const rows = (
    value: unknown,
    field: string,
    check: (v: number) => boolean,
    what: string,
  ): number[][] => {
    if (!Array.isArray(value) || value.length === 0) {
      throw new ModelFileError(file, `${field} must be a non-empty array of rows`);
    }
    return value.map((row: unknown, b) => {
      if (!Array.isArray(row) || row.length === 0)
        throw new ModelFileError(file, `${field}[${b}] must be a non-empty array`);
      return row.map((v: unknown, t) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || !check(v)) {
          throw new ModelFileError(
            file,
            `${field}[${b}][${t}] must be ${what}, got ${JSON.stringify(v)}`,
          );
        }
        return v;
      });
    });
  };
  const isId = (v: number): boolean => v >= 0 && v < vocabSize;
  const idText = `a token id in [0, ${vocabSize})`;
  let ids: number[][];
  let labels: number[][];
  if (Array.isArray(raw)) {
    ids = rows(raw, 'tokens', isId, idText);
    labels = ids;
  } else if (typeof raw === 'object' && raw !== null) {
    const spec = raw as Record<string, unknown>;
    ids = rows(spec['input_ids'], 'input_ids', isId, idText);
    if ('labels' in spec) {
      labels = rows(
        spec['labels'],
        'labels',
        (v) => v === IGNORE_INDEX || isId(v),
        `-100 or ${idText}`,
      );
    } else if ('loss_mask' in spec) {
      const mask = rows(spec['loss_mask'], 'loss_mask', (v) => v === 0 || v === 1, '0 or 1');
      labels = ids.map((row, b) => row.map((id, t) => (mask[b]?.[t] === 1 ? id : IGNORE_INDEX)));
      labels.forEach((_, b) => checkSameShape(ids, mask, b, 'loss_mask', file));
    } else {
      throw new ModelFileError(file, 'expected "labels" or "loss_mask" beside "input_ids"');
    }
    ids.forEach((_, b) => checkSameShape(ids, labels, b, 'labels', file));
  } else {
    throw new ModelFileError(file, 'expected an array of rows or an object with "input_ids"');
  }
  const batch = tokenBatchFromRows(ids, labels);
  if (batch.targetTokens === 0)
    throw new ModelFileError(file, 'no target tokens: the loss would be 0/0');
  return batch;
}

function checkSameShape(
  ids: number[][],
  other: number[][],
  b: number,
  field: string,
  file: string,
): void {
  if (other.length !== ids.length || other[b]?.length !== ids[b]?.length) {
    throw new ModelFileError(file, `${field}[${b}] must have the same length as input_ids[${b}]`);
  }
}

/** Reads and parses a `--tokens` file (see {@link parseTokenBatch}). */
export async function readTokenBatch(file: string, vocabSize: number): Promise<TrainingBatch> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ModelFileError(file, `cannot read: ${(cause as Error).message}`, { cause });
  }
  return parseTokenBatch(text, file, vocabSize);
}
