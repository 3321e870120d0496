import { createHash } from 'node:crypto';
import type { DatasetVersionRef, DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { Item } from '@lathe/contracts/lathe/preferences/v1/task';
import { LatheError } from '@lathe/service-kit';
import type { SqlClient } from '@lathe/store';
import type { DatasetsWriter } from '../clients/datasets.js';
import { addItems, loadTask } from './tasks.js';

/** Records read at most per import: a task is for people to judge, not a whole corpus. */
export const MAX_IMPORT_RECORDS = 100_000;

/**
 * A seeded draw in [0, 1) for `label` of a record: the first 48 bits of SHA-256(seed, label,
 * record id). The sample and the candidate order follow from the record alone, so the same seed
 * picks the same records whatever order the dataset returns them in, with no generator state.
 */
function draw(seed: number, label: string, recordId: string): number {
  const digest = createHash('sha256')
    .update(`${String(seed)}:${label}:${recordId}`)
    .digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * Adds one item per preference record of a dataset version: its prompt, and chosen and rejected
 * as candidates "a" and "b" in a seeded random order (so the id tells annotators nothing). With
 * `maxItems`, a seeded sample; `goldFraction` of the items become gold with the chosen response
 * as the answer. The record id is kept as metadata `source_record`.
 */
export async function importItems(
  db: SqlClient,
  datasets: DatasetsWriter,
  input: {
    taskId: string;
    version: DatasetVersionRef;
    split: DatasetSplit;
    maxItems: number;
    goldFraction: number;
    seed: number;
  },
): Promise<{ importedCount: number; goldCount: number }> {
  await loadTask(db, input.taskId);
  const records = await datasets.readRecords(input.version, input.split, MAX_IMPORT_RECORDS);
  const picked = records
    .map((record) => ({ record, order: draw(input.seed, 'sample', record.id) }))
    .sort((a, b) => a.order - b.order || (a.record.id < b.record.id ? -1 : 1))
    .slice(0, input.maxItems > 0 ? input.maxItems : records.length)
    .map((p) => p.record);
  const goldCount = Math.round(picked.length * input.goldFraction);
  const ref = `${input.version.dataset}@${String(input.version.version)}`;
  const items: Item[] = picked.map((record, i) => {
    if (record.content?.$case !== 'preference')
      throw LatheError.failedPrecondition(
        `dataset version ${ref} holds non-preference records (record ${record.id})`,
        [{ type: 'DATASET_KIND', subject: ref, description: 'must be a preference dataset' }],
        { reason: ErrorReason.ERROR_REASON_RECORD_KIND_MISMATCH },
      );
    const p = record.content.preference;
    const chosenFirst = draw(input.seed, 'order', record.id) < 0.5;
    const chosen = { id: chosenFirst ? 'a' : 'b', messages: p.chosen, source: `${ref}:chosen` };
    const rejected = {
      id: chosenFirst ? 'b' : 'a',
      messages: p.rejected,
      source: `${ref}:rejected`,
    };
    return {
      id: `rec_${record.id.slice(0, 32)}`,
      prompt: p.prompt,
      candidates: chosenFirst ? [chosen, rejected] : [rejected, chosen],
      gold:
        i < goldCount
          ? { preferredCandidateId: chosen.id, explanation: `chosen response of ${ref}` }
          : undefined,
      metadata: { source_record: record.id, source_dataset: ref },
    };
  });
  await db.transaction((tx) => addItems(tx, input.taskId, items));
  return { importedCount: items.length, goldCount };
}
