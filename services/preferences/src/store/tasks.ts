import { randomUUID } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { Item, Task } from '@lathe/contracts/lathe/preferences/v1/task';
import { LatheError } from '@lathe/service-kit';
import type { SqlExecutor } from '@lathe/store';
import { candidateId, contentHash, promptHash } from '../domain/item-checks.js';
import { msDuration, num, storeMessages } from './rows.js';
import type { StoredCandidate } from './rows.js';

/** Settings of a new task. */
export interface TaskSettings {
  readonly displayName: string;
  readonly instructions: string;
  readonly annotatorsPerItem: number;
  readonly leaseMs: number;
  readonly allowTie: boolean;
  readonly requireRationale: boolean;
}

/** A task row. */
export interface TaskRow extends Record<string, unknown> {
  id: string;
  display_name: string;
  instructions: string;
  annotators_per_item: number;
  lease_ms: bigint;
  allow_tie: boolean;
  require_rationale: boolean;
  create_time: Date;
}

/** Creates a task with its first items, in the caller's transaction. */
export async function createTask(
  tx: SqlExecutor,
  settings: TaskSettings,
  items: readonly Item[],
): Promise<string> {
  const id = `task_${randomUUID()}`;
  await tx.query(
    `INSERT INTO tasks (id, display_name, instructions, annotators_per_item, lease_ms, allow_tie, require_rationale)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      id,
      settings.displayName,
      settings.instructions,
      settings.annotatorsPerItem,
      settings.leaseMs,
      settings.allowTie,
      settings.requireRationale,
    ],
  );
  await addItems(tx, id, items);
  return id;
}

/** Reads a task row; NOT_FOUND names it. `lock` takes a share lock (items are being added). */
export async function loadTask(db: SqlExecutor, taskId: string): Promise<TaskRow> {
  const { rows } = await db.query<TaskRow>('SELECT * FROM tasks WHERE id = $1', [taskId]);
  const row = rows[0];
  if (row === undefined)
    throw LatheError.notFound('task', taskId, { reason: ErrorReason.ERROR_REASON_TASK_NOT_FOUND });
  return row;
}

/**
 * Adds items (already checked) to a task with one candidate pair per unordered pair of
 * candidates, flagging each item that repeats an item of the task (`lathe.duplicate_of`) or whose
 * prompt belongs to a registered evaluation set (`lathe.eval_overlap`). Returns ids in order.
 */
export async function addItems(
  tx: SqlExecutor,
  taskId: string,
  items: readonly Item[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const item of items) {
    const id = item.id === '' ? `item_${randomUUID()}` : item.id;
    const candidates: StoredCandidate[] = item.candidates.map((c, j) => ({
      id: c.id === '' ? candidateId(j) : c.id,
      messages: storeMessages(c.messages),
      source: c.source,
    }));
    const content = contentHash(item);
    const prompt = promptHash(item.prompt);
    const duplicate = await tx.query<{ id: string }>(
      'SELECT id FROM items WHERE task_id = $1 AND content_sha256 = $2 ORDER BY position LIMIT 1',
      [taskId, content],
    );
    const overlap = await tx.query<{ eval_set: string }>(
      'SELECT eval_set FROM eval_prompts WHERE prompt_sha256 = $1',
      [prompt],
    );
    const metadata: Record<string, string> = { ...item.metadata };
    const duplicateOf = duplicate.rows[0]?.id;
    if (duplicateOf !== undefined) metadata['lathe.duplicate_of'] = duplicateOf;
    const evalSet = overlap.rows[0]?.eval_set;
    if (evalSet !== undefined) metadata['lathe.eval_overlap'] = evalSet;
    const inserted = await tx.query(
      `INSERT INTO items (task_id, id, prompt, candidates, gold_preferred, gold_explanation, metadata,
         content_sha256, prompt_sha256, duplicate_of, eval_overlap)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
      [
        taskId,
        id,
        JSON.stringify(storeMessages(item.prompt)),
        JSON.stringify(candidates),
        item.gold === undefined ? null : item.gold.preferredCandidateId,
        item.gold === undefined ? null : item.gold.explanation,
        JSON.stringify(metadata),
        content,
        prompt,
        duplicateOf ?? null,
        evalSet !== undefined,
      ],
    );
    if (inserted.rowCount === 0) throw LatheError.alreadyExists(`item of task "${taskId}"`, id);
    for (let a = 0; a < candidates.length; a++)
      for (let b = a + 1; b < candidates.length; b++) {
        const [first, second] = [candidates[a]?.id ?? '', candidates[b]?.id ?? ''].sort();
        await tx.query(
          'INSERT INTO candidate_pairs (task_id, item_id, first_id, second_id) VALUES ($1, $2, $3, $4)',
          [taskId, id, first ?? '', second ?? ''],
        );
      }
    ids.push(id);
  }
  return ids;
}

/** A task with its counts. */
export async function getTask(db: SqlExecutor, taskId: string): Promise<Task> {
  return taskOf(db, await loadTask(db, taskId));
}

/** Tasks newest first, from `offset`, with the total. */
export async function listTasks(
  db: SqlExecutor,
  offset: number,
  limit: number,
): Promise<{ tasks: Task[]; total: number }> {
  const { rows } = await db.query<TaskRow>(
    'SELECT * FROM tasks ORDER BY create_time DESC, id LIMIT $1 OFFSET $2',
    [limit, offset],
  );
  const count = await db.query<{ n: bigint }>('SELECT count(*) AS n FROM tasks');
  const tasks: Task[] = [];
  for (const row of rows) tasks.push(await taskOf(db, row));
  return { tasks, total: num(count.rows[0]?.n) };
}

async function taskOf(db: SqlExecutor, row: TaskRow): Promise<Task> {
  const { rows } = await db.query<{ items: bigint; gold: bigint; judgements: bigint }>(
    `SELECT (SELECT count(*) FROM items WHERE task_id = $1) AS items,
            (SELECT count(*) FROM items WHERE task_id = $1 AND gold_preferred IS NOT NULL) AS gold,
            (SELECT count(*) FROM judgements WHERE task_id = $1) AS judgements`,
    [row.id],
  );
  const counts = rows[0];
  return {
    id: row.id,
    displayName: row.display_name,
    instructions: row.instructions,
    annotatorsPerItem: row.annotators_per_item,
    assignmentLease: msDuration(num(row.lease_ms)),
    allowTie: row.allow_tie,
    requireRationale: row.require_rationale,
    itemCount: num(counts?.items),
    goldItemCount: num(counts?.gold),
    judgementCount: num(counts?.judgements),
    createTime: row.create_time,
  };
}
