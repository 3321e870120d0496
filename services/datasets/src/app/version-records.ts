import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { Record as ProtoRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import { jsonlLines } from '../domain/jsonl-lines.js';
import type { VersionRow } from '../store/datasets-store.js';
import type { DatasetsDeps } from './datasets-deps.js';

/** One split's blob within a version, in read order. */
export interface SplitBlob {
  readonly split: DatasetSplit;
  readonly sha256: string;
  readonly count: number;
}

/** The blobs to read for a split (UNSPECIFIED: train then eval). */
export function splitBlobs(version: VersionRow, split: DatasetSplit): SplitBlob[] {
  const all: SplitBlob[] = [
    {
      split: DatasetSplit.DATASET_SPLIT_TRAIN,
      sha256: version.trainSha256,
      count: version.trainCount,
    },
  ];
  if (version.evalSha256 !== '')
    all.push({
      split: DatasetSplit.DATASET_SPLIT_EVAL,
      sha256: version.evalSha256,
      count: version.evalCount,
    });
  return split === DatasetSplit.DATASET_SPLIT_UNSPECIFIED
    ? all
    : all.filter((b) => b.split === split);
}

/**
 * Streams a version's records from its artifacts starting at `offset` of the requested
 * sequence. Whole blobs before the offset are skipped by their counts without being read;
 * within a blob, lines before it are skipped without being parsed.
 */
export async function* readVersionRecords(
  deps: DatasetsDeps,
  blobs: readonly SplitBlob[],
  offset: number,
): AsyncGenerator<ProtoRecord> {
  let skip = offset;
  for (const blob of blobs) {
    if (skip >= blob.count) {
      skip -= blob.count;
      continue;
    }
    const stream = await deps.artifacts.get(`sha256:${blob.sha256}`);
    try {
      for await (const { text } of jsonlLines(stream)) {
        if (text === '') continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        yield ProtoRecord.fromJSON(JSON.parse(text));
      }
    } finally {
      stream.destroy();
    }
  }
}
