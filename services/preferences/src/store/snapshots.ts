import { randomUUID } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type {
  SnapshotToDatasetRequest,
  SnapshotToDatasetResponse,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { LatheError } from '@lathe/service-kit';
import type { SqlClient } from '@lathe/store';
import type { DatasetsWriter } from '../clients/datasets.js';
import { majority } from '../domain/agreement.js';
import { enqueueEvent } from '../events/outbox.js';
import type { StoredCandidate, StoredMessage } from './rows.js';
import { num } from './rows.js';
import { loadTask } from './tasks.js';

const ROLE_NAMES = ['', 'system', 'user', 'assistant', 'tool'];
const jsonMessages = (messages: readonly StoredMessage[]) =>
  messages.map((m) => ({ role: ROLE_NAMES[m.role] ?? 'user', content: m.content }));

/** One pair going into the dataset, with its provenance. */
interface SnapshotPair {
  readonly prompt: readonly StoredMessage[];
  readonly chosen: readonly StoredMessage[];
  readonly rejected: readonly StoredMessage[];
  readonly provenance: {
    readonly itemId: string | null;
    readonly pairId: string | null;
    readonly directPairId: string | null;
    readonly chosenId: string | null;
    readonly rejectedId: string | null;
    readonly annotators: readonly string[];
    readonly votes: number;
    readonly judgements: number;
    readonly agreement: number;
    readonly gold: boolean;
  };
}

interface PairVerdicts extends Record<string, unknown> {
  pair_id: bigint;
  item_id: string;
  prompt: StoredMessage[];
  candidates: StoredCandidate[];
  gold_preferred: string | null;
  first_id: string;
  second_id: string;
  winners: string[];
  annotators: string[];
}

/**
 * Turns a task's aggregated judgements into a new version of a preference dataset. Each
 * candidate pair's verdict is its strict majority (see `majority`): pairs with a shared top
 * count, a tie majority, fewer than `minJudgements` judgements or agreement below `minAgreement`
 * are left out and counted. Gold items are left out unless `includeGold`, in which case their
 * gold answer decides. The snapshot closes the items it used (their judgements can no longer be
 * revised), stores each pair's provenance and publishes snapshot_created, all in one transaction
 * after the datasets service created the version.
 */
export async function snapshotTask(
  db: SqlClient,
  writer: DatasetsWriter,
  request: SnapshotToDatasetRequest,
): Promise<SnapshotToDatasetResponse> {
  const task = await loadTask(db, request.taskId);
  const minAgreement = request.minAgreement ?? 0.5;
  const minJudgements =
    request.minJudgements > 0 ? request.minJudgements : task.annotators_per_item;
  const { rows } = await db.query<PairVerdicts>(
    `SELECT cp.id AS pair_id, cp.item_id, i.prompt, i.candidates, i.gold_preferred, cp.first_id, cp.second_id,
            array_agg(j.winner ORDER BY j.annotator_id) AS winners, array_agg(j.annotator_id ORDER BY j.annotator_id) AS annotators
     FROM candidate_pairs cp JOIN items i ON i.task_id = cp.task_id AND i.id = cp.item_id
     JOIN judgements j ON j.pair_id = cp.id
     WHERE cp.task_id = $1 GROUP BY cp.id, i.prompt, i.candidates, i.gold_preferred ORDER BY cp.id`,
    [request.taskId],
  );
  const pairs: SnapshotPair[] = [];
  const usedItems = new Set<string>();
  let excluded = 0;
  for (const row of rows) {
    const messagesOf = (id: string): readonly StoredMessage[] =>
      row.candidates.find((c) => c.id === id)?.messages ?? [];
    const verdict = majority(row.winners);
    const isGold = row.gold_preferred !== null;
    let winner: string | undefined = verdict.category;
    if (isGold) {
      if (!request.includeGold) continue;
      winner =
        row.gold_preferred === row.first_id || row.gold_preferred === row.second_id
          ? (row.gold_preferred ?? undefined)
          : undefined;
    } else if (verdict.total < minJudgements || verdict.agreement < minAgreement)
      winner = undefined;
    if (winner === undefined || winner === '') {
      excluded += 1;
      continue;
    }
    const loser = winner === row.first_id ? row.second_id : row.first_id;
    usedItems.add(row.item_id);
    pairs.push({
      prompt: row.prompt,
      chosen: messagesOf(winner),
      rejected: messagesOf(loser),
      provenance: {
        itemId: row.item_id,
        pairId: String(row.pair_id),
        directPairId: null,
        chosenId: winner,
        rejectedId: loser,
        annotators: row.annotators,
        votes: row.winners.filter((w) => w === winner).length,
        judgements: verdict.total,
        agreement: row.winners.filter((w) => w === winner).length / verdict.total,
        gold: isGold,
      },
    });
  }
  if (request.includeDirectPairs) {
    const direct = await db.query<{
      id: string;
      prompt: StoredMessage[];
      chosen: StoredMessage[];
      rejected: StoredMessage[];
      submitted_by: string;
    }>(
      'SELECT id, prompt, chosen, rejected, submitted_by FROM pairs WHERE task_id = $1 ORDER BY create_time, id',
      [request.taskId],
    );
    for (const p of direct.rows)
      pairs.push({
        prompt: p.prompt,
        chosen: p.chosen,
        rejected: p.rejected,
        provenance: {
          itemId: null,
          pairId: null,
          directPairId: p.id,
          chosenId: null,
          rejectedId: null,
          annotators: [p.submitted_by],
          votes: 1,
          judgements: 1,
          agreement: 1,
          gold: false,
        },
      });
  }
  if (pairs.length === 0)
    throw LatheError.failedPrecondition(
      `task "${request.taskId}" has no pair meeting the snapshot thresholds (min agreement ${String(minAgreement)}, min judgements ${String(minJudgements)})`,
      [
        {
          type: 'SNAPSHOT_PAIRS',
          subject: request.taskId,
          description: `${String(excluded)} candidate pairs excluded`,
        },
      ],
      { reason: ErrorReason.ERROR_REASON_SNAPSHOT_EMPTY },
    );
  const snapshotId = `snap_${randomUUID()}`;
  // Each line carries its provenance, which the datasets service keeps as the record's metadata
  // (so training can weight pairs by agreement and a version traces back to the judgements);
  // snapshot_pairs keeps the same, keyed by snapshot and line.
  const jsonl = Buffer.from(
    pairs
      .map((p) =>
        JSON.stringify({
          prompt: jsonMessages(p.prompt),
          chosen: jsonMessages(p.chosen),
          rejected: jsonMessages(p.rejected),
          provenance: { taskId: request.taskId, snapshotId, ...p.provenance },
        }),
      )
      .join('\n') + '\n',
  );
  const written = await writer.writePreferenceVersion({
    dataset: request.dataset,
    jsonl,
    sourceName: `preferences/${request.taskId}/${snapshotId}.jsonl`,
    description:
      request.description === '' ? `snapshot of task ${request.taskId}` : request.description,
    evalFraction: request.evalFraction,
    seed: num(request.seed),
    idempotencyKey: snapshotId,
  });
  const ref = written.version.ref ?? { dataset: request.dataset, version: 0, manifestSha256: '' };
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO snapshots (id, task_id, dataset, version, manifest_sha256, upload_id, pair_count, excluded_count, min_agreement)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        snapshotId,
        request.taskId,
        ref.dataset,
        ref.version,
        ref.manifestSha256,
        written.uploadId,
        pairs.length,
        excluded,
        minAgreement,
      ],
    );
    for (const [i, p] of pairs.entries()) {
      const v = p.provenance;
      await tx.query(
        `INSERT INTO snapshot_pairs (snapshot_id, line, item_id, pair_id, direct_pair_id, chosen_id, rejected_id, annotators, votes, judgements, agreement, gold)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          snapshotId,
          i + 1,
          v.itemId,
          v.pairId,
          v.directPairId,
          v.chosenId,
          v.rejectedId,
          [...v.annotators],
          v.votes,
          v.judgements,
          v.agreement,
          v.gold,
        ],
      );
    }
    await tx.query(
      'UPDATE items SET closed_time = now() WHERE task_id = $1 AND id = ANY($2) AND closed_time IS NULL',
      [request.taskId, [...usedItems]],
    );
    const eventId = randomUUID();
    await enqueueEvent(tx, 'snapshot_created', eventId, {
      eventId,
      occurredAt: new Date(),
      taskId: request.taskId,
      datasetVersion: ref,
      pairCount: pairs.length,
    });
  });
  return { datasetVersion: ref, pairCount: pairs.length, excludedCount: excluded };
}
