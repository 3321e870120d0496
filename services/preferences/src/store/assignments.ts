import { randomInt, randomUUID } from 'node:crypto';
import { AssignmentState } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { Assignment } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { SqlExecutor } from '@lathe/store';
import { blindCandidate, loadMessages, num } from './rows.js';
import type { StoredCandidate, StoredMessage } from './rows.js';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { LatheError } from '@lathe/service-kit';
import type { TaskRow } from './tasks.js';

/** An assignment row joined with what the annotator is shown. */
interface AssignmentRow extends Record<string, unknown> {
  id: string;
  task_id: string;
  item_id: string;
  annotator_id: string;
  candidate_a_id: string;
  candidate_b_id: string;
  state: number;
  create_time: Date;
  lease_expire_time: Date;
  prompt: StoredMessage[];
  candidates: StoredCandidate[];
  instructions: string;
  allow_tie: boolean;
}

const SELECT_ASSIGNMENT = `SELECT a.*, i.prompt, i.candidates, t.instructions, t.allow_tie
  FROM assignments a JOIN items i ON i.task_id = a.task_id AND i.id = a.item_id JOIN tasks t ON t.id = a.task_id`;

function assignmentOf(row: AssignmentRow): Assignment {
  const find = (id: string): StoredCandidate | undefined => row.candidates.find((c) => c.id === id);
  const a = find(row.candidate_a_id);
  const b = find(row.candidate_b_id);
  return {
    id: row.id,
    taskId: row.task_id,
    itemId: row.item_id,
    annotatorId: row.annotator_id,
    prompt: loadMessages(row.prompt),
    candidateA: a === undefined ? undefined : blindCandidate(a),
    candidateB: b === undefined ? undefined : blindCandidate(b),
    state: row.state,
    createTime: row.create_time,
    leaseExpireTime: row.lease_expire_time,
    instructions: row.instructions,
    allowTie: row.allow_tie,
  };
}

// Leases past their end go back to the pool (state EXPIRED, the pair's held count decremented).
const EXPIRE_LEASES = `expired AS (
       UPDATE assignments SET state = ${String(AssignmentState.ASSIGNMENT_STATE_EXPIRED)}
       WHERE task_id = $1 AND state = ${String(AssignmentState.ASSIGNMENT_STATE_PENDING)} AND lease_expire_time <= now()
       RETURNING pair_id),
     released AS (
       UPDATE candidate_pairs cp SET held_count = cp.held_count - x.n
       FROM (SELECT pair_id, count(*)::int AS n FROM expired GROUP BY pair_id) x WHERE cp.id = x.pair_id)`;

/** What GetNextAssignment answers. */
export interface NextAssignment {
  readonly assignment: Assignment | undefined;
  readonly exhausted: boolean;
  readonly retryAfterMs: number;
}

/**
 * Leases `annotatorId` a candidate pair of the task: the pending one it already holds, else the
 * oldest pair it has not judged whose live leases plus judgements are fewer than k. The pair is
 * taken with FOR UPDATE SKIP LOCKED and its held count raised in the same statement that inserts
 * the lease, so concurrent annotators never both fill the k-th place; the order of the two
 * candidates is drawn at random per assignment and recorded. Three statements in all (expire and
 * read the task, look for a held lease, take a pair), each atomic on its own: round trips to the
 * database are what this call's time goes to under load.
 */
export async function nextAssignment(
  db: SqlExecutor,
  taskId: string,
  annotatorId: string,
): Promise<NextAssignment> {
  const tasks = await db.query<TaskRow>(`WITH ${EXPIRE_LEASES} SELECT * FROM tasks WHERE id = $1`, [
    taskId,
  ]);
  const task = tasks.rows[0];
  if (task === undefined)
    throw LatheError.notFound('task', taskId, { reason: ErrorReason.ERROR_REASON_TASK_NOT_FOUND });
  const held = await db.query<AssignmentRow>(
    `${SELECT_ASSIGNMENT} WHERE a.task_id = $1 AND a.annotator_id = $2 AND a.state = ${String(AssignmentState.ASSIGNMENT_STATE_PENDING)}
     ORDER BY a.create_time LIMIT 1`,
    [taskId, annotatorId],
  );
  if (held.rows[0] !== undefined)
    return { assignment: assignmentOf(held.rows[0]), exhausted: false, retryAfterMs: 0 };
  const leased = await db.query<AssignmentRow>(
    `WITH picked AS (
       SELECT cp.id, cp.item_id, cp.first_id, cp.second_id FROM candidate_pairs cp
       JOIN items i ON i.task_id = cp.task_id AND i.id = cp.item_id
       WHERE cp.task_id = $1 AND cp.held_count < $3 AND i.closed_time IS NULL
         AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.pair_id = cp.id AND a.annotator_id = $2
                         AND a.state <> ${String(AssignmentState.ASSIGNMENT_STATE_EXPIRED)})
       ORDER BY cp.id LIMIT 1 FOR UPDATE OF cp SKIP LOCKED),
     bumped AS (
       UPDATE candidate_pairs cp SET held_count = cp.held_count + 1 FROM picked WHERE cp.id = picked.id),
     leased AS (
       INSERT INTO assignments (id, task_id, item_id, pair_id, annotator_id, candidate_a_id, candidate_b_id, state, lease_expire_time)
       SELECT $4, $1, picked.item_id, picked.id, $2,
              CASE WHEN $5::boolean THEN picked.second_id ELSE picked.first_id END,
              CASE WHEN $5::boolean THEN picked.first_id ELSE picked.second_id END,
              ${String(AssignmentState.ASSIGNMENT_STATE_PENDING)}, now() + $6::bigint * interval '1 millisecond'
       FROM picked RETURNING *)
     SELECT a.*, i.prompt, i.candidates, t.instructions, t.allow_tie
     FROM leased a JOIN items i ON i.task_id = a.task_id AND i.id = a.item_id JOIN tasks t ON t.id = a.task_id`,
    [
      taskId,
      annotatorId,
      task.annotators_per_item,
      `asg_${randomUUID()}`,
      randomInt(2) === 1,
      num(task.lease_ms),
    ],
  );
  if (leased.rows[0] !== undefined)
    return { assignment: assignmentOf(leased.rows[0]), exhausted: false, retryAfterMs: 0 };
  // Pairs full only because of others' live leases may come back when those expire.
  const waiting = await db.query<{ until: Date | null }>(
    `SELECT min(a.lease_expire_time) AS until FROM assignments a JOIN candidate_pairs cp ON cp.id = a.pair_id
     WHERE a.task_id = $1 AND a.state = ${String(AssignmentState.ASSIGNMENT_STATE_PENDING)}
       AND NOT EXISTS (SELECT 1 FROM assignments mine WHERE mine.pair_id = cp.id AND mine.annotator_id = $2
                       AND mine.state <> ${String(AssignmentState.ASSIGNMENT_STATE_EXPIRED)})`,
    [taskId, annotatorId],
  );
  const until = waiting.rows[0]?.until ?? null;
  return until === null
    ? { assignment: undefined, exhausted: true, retryAfterMs: 0 }
    : {
        assignment: undefined,
        exhausted: false,
        retryAfterMs: Math.max(0, until.getTime() - Date.now()),
      };
}

/** Assignments of a task, oldest first, optionally of one annotator and one state. */
export async function listAssignments(
  db: SqlExecutor,
  filter: {
    taskId: string;
    annotatorId: string | undefined;
    state: AssignmentState;
    offset: number;
    limit: number;
  },
): Promise<{ assignments: Assignment[]; total: number }> {
  const where = ['a.task_id = $1'];
  const params: (string | number)[] = [filter.taskId];
  if (filter.annotatorId !== undefined) {
    params.push(filter.annotatorId);
    where.push(`a.annotator_id = $${String(params.length)}`);
  }
  if (filter.state !== AssignmentState.ASSIGNMENT_STATE_UNSPECIFIED) {
    params.push(filter.state);
    where.push(`a.state = $${String(params.length)}`);
  }
  const clause = where.join(' AND ');
  const count = await db.query<{ n: bigint }>(
    `SELECT count(*) AS n FROM assignments a WHERE ${clause}`,
    params,
  );
  const { rows } = await db.query<AssignmentRow>(
    `${SELECT_ASSIGNMENT} WHERE ${clause} ORDER BY a.create_time, a.id LIMIT ${String(filter.limit)} OFFSET ${String(filter.offset)}`,
    params,
  );
  return { assignments: rows.map(assignmentOf), total: num(count.rows[0]?.n) };
}
