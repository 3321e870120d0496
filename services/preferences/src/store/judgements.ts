import { randomUUID } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { AssignmentState, Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { Judgement } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { SubmitJudgementRequest } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { LatheError } from '@lathe/service-kit';
import type { SqlExecutor } from '@lathe/store';
import { isReviewer } from '../auth/caller.js';
import type { Caller } from '../auth/caller.js';
import { enqueueEvent } from '../events/outbox.js';
import { durationMs, msDuration, num } from './rows.js';

interface JudgementRow extends Record<string, unknown> {
  id: string;
  assignment_id: string;
  task_id: string;
  item_id: string;
  annotator_id: string;
  candidate_a_id: string;
  candidate_b_id: string;
  choice: number;
  rationale: string;
  time_spent_ms: bigint;
  revision: number;
  submit_time: Date;
  revised_by: string;
}

function judgementOf(row: JudgementRow): Judgement {
  return {
    id: row.id,
    assignmentId: row.assignment_id,
    taskId: row.task_id,
    itemId: row.item_id,
    annotatorId: row.annotator_id,
    candidateAId: row.candidate_a_id,
    candidateBId: row.candidate_b_id,
    choice: row.choice,
    rationale: row.rationale,
    timeSpent: msDuration(num(row.time_spent_ms)),
    revision: row.revision,
    submitTime: row.submit_time,
    revisedBy: row.revised_by,
  };
}

interface HeldRow extends Record<string, unknown> {
  id: string;
  task_id: string;
  item_id: string;
  pair_id: bigint;
  annotator_id: string;
  candidate_a_id: string;
  candidate_b_id: string;
  state: AssignmentState;
  expired: boolean;
  allow_tie: boolean;
  require_rationale: boolean;
  closed_time: Date | null;
  judgement_id: string | null;
  judgement_revision: number | null;
}

/**
 * Records or revises the verdict on an assignment, in the caller's transaction. Annotators reach
 * only their own assignments: another's is NOT_FOUND exactly like a missing one, so ids cannot
 * be probed. Reviewers may revise anyone's judgement. A closed item (snapshotted) refuses
 * revisions; a stale `expectedRevision` is ABORTED with REVISION_CONFLICT.
 */
export async function submitJudgement(
  tx: SqlExecutor,
  caller: Caller,
  request: SubmitJudgementRequest,
): Promise<Judgement> {
  // The assignment (locked) with its current judgement, if any, in one round trip.
  const { rows } = await tx.query<HeldRow>(
    `SELECT a.id, a.task_id, a.item_id, a.pair_id, a.annotator_id, a.candidate_a_id, a.candidate_b_id, a.state,
            a.lease_expire_time <= now() AS expired, t.allow_tie, t.require_rationale, i.closed_time,
            j.id AS judgement_id, j.revision AS judgement_revision
     FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN items i ON i.task_id = a.task_id AND i.id = a.item_id
     LEFT JOIN judgements j ON j.assignment_id = a.id
     WHERE a.id = $1 FOR UPDATE OF a`,
    [request.assignmentId],
  );
  const held = rows[0];
  const own = held !== undefined && held.annotator_id === caller.annotatorId;
  if (held === undefined || (!own && !isReviewer(caller)))
    throw LatheError.notFound('assignment', request.assignmentId, {
      reason: ErrorReason.ERROR_REASON_ASSIGNMENT_NOT_FOUND,
    });
  const notHeld = (why: string): LatheError =>
    LatheError.failedPrecondition(
      `assignment "${held.id}" ${why}`,
      [{ type: 'ASSIGNMENT_STATE', subject: held.id, description: why }],
      { reason: ErrorReason.ERROR_REASON_ASSIGNMENT_NOT_HELD, metadata: { assignmentId: held.id } },
    );
  if (held.closed_time !== null)
    throw notHeld(`belongs to item "${held.item_id}", closed by a snapshot`);
  if (
    held.state === AssignmentState.ASSIGNMENT_STATE_EXPIRED ||
    (held.state === AssignmentState.ASSIGNMENT_STATE_PENDING && held.expired)
  )
    throw notHeld('lease has expired; ask for a new assignment');
  if (held.state === AssignmentState.ASSIGNMENT_STATE_PENDING && !own)
    throw notHeld(`is held by annotator "${held.annotator_id}" and not judged yet`);
  const violations = [];
  if (request.choice === Choice.CHOICE_TIE && !held.allow_tie)
    violations.push({ field: 'choice', description: `task "${held.task_id}" does not allow ties` });
  if (held.require_rationale && request.rationale.trim() === '')
    violations.push({
      field: 'rationale',
      description: `task "${held.task_id}" requires a rationale`,
    });
  if (violations.length > 0) throw LatheError.invalidArgument(violations);

  const currentRevision = held.judgement_revision ?? 0;
  if (request.expectedRevision !== currentRevision)
    throw LatheError.aborted(
      `judgement of assignment "${held.id}" is at revision ${String(currentRevision)}, not ${String(request.expectedRevision)}`,
      {
        reason: ErrorReason.ERROR_REASON_REVISION_CONFLICT,
        metadata: { currentRevision: String(currentRevision) },
      },
    );
  const winner =
    request.choice === Choice.CHOICE_A
      ? held.candidate_a_id
      : request.choice === Choice.CHOICE_B
        ? held.candidate_b_id
        : '';
  const revisedBy = caller.annotatorId ?? caller.key;
  const values = [
    request.choice,
    winner,
    request.rationale,
    durationMs(request.timeSpent),
    currentRevision + 1,
    revisedBy,
  ];
  // The judgement, the assignment's state and the revision history in one statement.
  const revision = `revised AS (
       INSERT INTO judgement_revisions (judgement_id, revision, choice, rationale, submit_time, revised_by)
       SELECT id, revision, choice, rationale, submit_time, revised_by FROM saved)`;
  const written =
    held.judgement_id === null
      ? await tx.query<JudgementRow>(
          `WITH saved AS (
             INSERT INTO judgements (id, assignment_id, task_id, item_id, pair_id, annotator_id, candidate_a_id, candidate_b_id,
               choice, winner, rationale, time_spent_ms, revision, submit_time, revised_by)
             VALUES ($7, $8, $9, $10, $11, $12, $13, $14, $1, $2, $3, $4, $5, now(), $6) RETURNING *),
           submitted AS (
             UPDATE assignments SET state = ${String(AssignmentState.ASSIGNMENT_STATE_SUBMITTED)} WHERE id = $8),
           ${revision}
           SELECT * FROM saved`,
          [
            ...values,
            `jdg_${randomUUID()}`,
            held.id,
            held.task_id,
            held.item_id,
            held.pair_id,
            held.annotator_id,
            held.candidate_a_id,
            held.candidate_b_id,
          ],
        )
      : await tx.query<JudgementRow>(
          `WITH saved AS (
             UPDATE judgements SET choice = $1, winner = $2, rationale = $3, time_spent_ms = $4, revision = $5,
               submit_time = now(), revised_by = $6 WHERE id = $7 RETURNING *),
           ${revision}
           SELECT * FROM saved`,
          [...values, held.judgement_id],
        );
  const saved = written.rows[0] as JudgementRow;
  const judgement = judgementOf(saved);
  const eventId = randomUUID();
  await enqueueEvent(tx, 'judgement_submitted', eventId, {
    eventId,
    occurredAt: saved.submit_time,
    judgement,
  });
  return judgement;
}

/** One current verdict, oriented by candidate ids, with what quality measures need. */
export interface VerdictRow {
  readonly pairId: string;
  readonly itemId: string;
  readonly annotatorId: string;
  /** The preferred candidate's id, '' for a tie. */
  readonly winner: string;
  /** The gold answer of the item ('' = tie), undefined when not gold. */
  readonly gold: string | undefined;
  /** Candidate ids of the pair. */
  readonly firstId: string;
  readonly secondId: string;
}

/** Every current verdict of a task. */
export async function taskVerdicts(db: SqlExecutor, taskId: string): Promise<VerdictRow[]> {
  const { rows } = await db.query<{
    pair_id: bigint;
    item_id: string;
    annotator_id: string;
    winner: string;
    gold_preferred: string | null;
    first_id: string;
    second_id: string;
  }>(
    `SELECT j.pair_id, j.item_id, j.annotator_id, j.winner, i.gold_preferred, cp.first_id, cp.second_id
     FROM judgements j JOIN items i ON i.task_id = j.task_id AND i.id = j.item_id JOIN candidate_pairs cp ON cp.id = j.pair_id
     WHERE j.task_id = $1 ORDER BY j.pair_id, j.annotator_id`,
    [taskId],
  );
  return rows.map((r) => ({
    pairId: String(r.pair_id),
    itemId: r.item_id,
    annotatorId: r.annotator_id,
    winner: r.winner,
    gold: r.gold_preferred ?? undefined,
    firstId: r.first_id,
    secondId: r.second_id,
  }));
}
