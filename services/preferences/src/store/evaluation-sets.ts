import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';
import { ChatRole } from '@lathe/contracts/lathe/common/v1/chat';
import type { DatasetSplit, DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { Record as DatasetRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import type { SqlClient } from '@lathe/store';
import type { DatasetsWriter } from '../clients/datasets.js';
import { promptHash } from '../domain/item-checks.js';

/** Records read at most from one dataset version for an evaluation set. */
export const MAX_EVALUATION_RECORDS = 100_000;

/**
 * The prompt a dataset record holds: a pair's prompt, a conversation's turns before its last
 * assistant turn (all of them when it has none), a plain text as one user turn.
 */
export function recordPrompt(record: DatasetRecord): ChatMessage[] {
  switch (record.content?.$case) {
    case 'preference':
      return record.content.preference.prompt;
    case 'conversation': {
      const turns = record.content.conversation.messages;
      const last = turns.map((m) => m.role).lastIndexOf(ChatRole.CHAT_ROLE_ASSISTANT);
      return last < 0 ? turns : turns.slice(0, last);
    }
    case 'text':
      return [{ role: ChatRole.CHAT_ROLE_USER, content: record.content.text.text }];
    case undefined:
      return [];
  }
}

/**
 * Registers the prompts of evaluation set `name` (given ones, then those of a dataset version's
 * records) by their normalized hash, so that items created afterwards with one of these prompts
 * are flagged. A prompt already registered (under any set) keeps its first set.
 */
export async function registerEvaluationSet(
  db: SqlClient,
  datasets: () => DatasetsWriter,
  input: {
    name: string;
    prompts: readonly (readonly ChatMessage[])[];
    version: DatasetVersionRef | undefined;
    split: DatasetSplit;
  },
): Promise<{ registeredCount: number; alreadyRegisteredCount: number }> {
  const prompts = [...input.prompts];
  if (input.version !== undefined)
    for (const record of await datasets().readRecords(
      input.version,
      input.split,
      MAX_EVALUATION_RECORDS,
    )) {
      const prompt = recordPrompt(record);
      if (prompt.length > 0) prompts.push(prompt);
    }
  const hashes = new Map<string, Buffer>();
  for (const p of prompts) {
    const hash = promptHash(p);
    hashes.set(hash.toString('hex'), hash);
  }
  const inserted = await db.query(
    `INSERT INTO eval_prompts (prompt_sha256, eval_set)
     SELECT unnest($1::bytea[]), $2 ON CONFLICT (prompt_sha256) DO NOTHING`,
    [[...hashes.values()], input.name],
  );
  const registeredCount = inserted.rowCount;
  return { registeredCount, alreadyRegisteredCount: hashes.size - registeredCount };
}
