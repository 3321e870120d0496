import { randomUUID } from 'node:crypto';
import { PairSourceKind } from '@lathe/contracts/lathe/preferences/v1/pair';
import type {
  PairInput,
  RejectedPair,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import type { SqlExecutor } from '@lathe/store';
import { enqueueEvent } from '../events/outbox.js';
import { storeMessages } from './rows.js';

/** Why a well-formed pair input cannot be a preference pair, or undefined when it can. */
export function pairProblem(pair: PairInput): string | undefined {
  if (pair.prompt.length === 0) return 'prompt must hold at least one message';
  if (pair.chosen.length === 0) return 'chosen must hold at least one message';
  if (pair.rejected.length === 0) return 'rejected must hold at least one message';
  if (JSON.stringify(storeMessages(pair.chosen)) === JSON.stringify(storeMessages(pair.rejected)))
    return 'chosen is identical to rejected';
  const kind = pair.source?.kind ?? PairSourceKind.PAIR_SOURCE_KIND_UNSPECIFIED;
  if (kind === PairSourceKind.PAIR_SOURCE_KIND_UNSPECIFIED || kind === PairSourceKind.UNRECOGNIZED)
    return 'source.kind must be set';
  return undefined;
}

/** Records the acceptable pairs (sizes already checked) with one pair_recorded event each. */
export async function recordPairs(
  tx: SqlExecutor,
  input: { taskId: string; pairs: readonly PairInput[]; submittedBy: string },
): Promise<{ pairIds: string[]; rejected: RejectedPair[] }> {
  const pairIds: string[] = [];
  const rejected: RejectedPair[] = [];
  for (const [index, pair] of input.pairs.entries()) {
    const problem = pairProblem(pair);
    if (problem !== undefined) {
      rejected.push({ index, reason: problem });
      continue;
    }
    const id = `pair_${randomUUID()}`;
    const source = pair.source ?? { kind: PairSourceKind.PAIR_SOURCE_KIND_UNSPECIFIED, detail: '' };
    const { rows } = await tx.query<{ create_time: Date }>(
      `INSERT INTO pairs (id, task_id, prompt, chosen, rejected, source_kind, source_detail, metadata, submitted_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING create_time`,
      [
        id,
        input.taskId === '' ? null : input.taskId,
        JSON.stringify(storeMessages(pair.prompt)),
        JSON.stringify(storeMessages(pair.chosen)),
        JSON.stringify(storeMessages(pair.rejected)),
        source.kind,
        source.detail,
        JSON.stringify(pair.metadata),
        input.submittedBy,
      ],
    );
    const eventId = randomUUID();
    await enqueueEvent(tx, 'pair_recorded', eventId, {
      eventId,
      occurredAt: rows[0]?.create_time ?? new Date(),
      pairId: id,
      taskId: input.taskId,
      source,
    });
    pairIds.push(id);
  }
  return { pairIds, rejected };
}
