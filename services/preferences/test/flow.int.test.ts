import { connectJetStreamBus } from '@lathe/bus';
import type { EventBus } from '@lathe/bus';
import { status } from '@grpc/grpc-js';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { Assignment } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { PairSourceKind } from '@lathe/contracts/lathe/preferences/v1/pair';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { createClient, isLatheError } from '@lathe/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JudgementSubmittedEvent,
  PairRecordedEvent,
  SnapshotCreatedEvent,
} from '../src/events/preference-events.js';
import { datasetsWriter } from '../src/clients/datasets.js';
import { assistant, startHarness, user } from './harness.js';
import type { Harness, PreferenceClient } from './harness.js';

// The hand-computed example of src/domain/agreement.test.ts, now judged over gRPC by three real
// annotators: each cell is the candidate the annotator prefers ('' = tie, '-' = not judged).
//        r1  r2  r3
//   u1   x   x   x      gold: x
//   u2   x   y   x
//   u3   y   y   y      gold: x (everyone is wrong)
//   u4   x   y   ''
//   u5   y   y   -
const TABLE: Record<string, readonly string[]> = {
  u1: ['x', 'x', 'x'],
  u2: ['x', 'y', 'x'],
  u3: ['y', 'y', 'y'],
  u4: ['x', 'y', ''],
  u5: ['y', 'y', '-'],
};
const GOLD: Record<string, string> = { u1: 'x', u3: 'x' };
const TOL = 12;

function choiceFor(a: Assignment, winner: string): Choice {
  if (winner === '') return Choice.CHOICE_TIE;
  return a.candidateA?.id === winner ? Choice.CHOICE_A : Choice.CHOICE_B;
}

async function failure(p: Promise<unknown>): Promise<{ code: number; reason: string }> {
  const e = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (!isLatheError(e)) throw e;
  return { code: e.code, reason: e.details.errorInfo.reason };
}

describe('preferences flow on PostgreSQL and NATS', () => {
  let h: Harness;
  let admin: PreferenceClient;
  let taskId: string;
  const raters: { id: string; client: PreferenceClient }[] = [];
  let bus: EventBus;
  const judged: string[] = [];
  const pairs: string[] = [];
  const snapshots: number[] = [];

  beforeAll(async () => {
    h = await startHarness(
      {
        LATHE_PREFERENCES_RATE_PER_SECOND: '1000',
        LATHE_PREFERENCES_RATE_BURST: '1000',
      },
      { datasets: true },
    );
    admin = await h.jwtClient(['admin']);
    for (const name of ['r1', 'r2', 'r3']) raters.push(await h.annotator(name));
    bus = await connectJetStreamBus({ servers: h.nats.url, name: 'preferences-test' });
    await bus.subscribe(
      JudgementSubmittedEvent,
      (e) => {
        judged.push(e.message.judgement?.id ?? '');
        return Promise.resolve();
      },
      { durable: 'test-judged' },
    );
    await bus.subscribe(
      SnapshotCreatedEvent,
      (e) => {
        snapshots.push(e.message.pairCount);
        return Promise.resolve();
      },
      { durable: 'test-snapshots' },
    );
    await bus.subscribe(
      PairRecordedEvent,
      (e) => {
        pairs.push(e.message.pairId);
        return Promise.resolve();
      },
      {
        durable: 'test-pairs',
      },
    );
  }, 120_000);
  afterAll(async () => {
    await bus.close();
    await h.close();
  });

  it('creates a task, hands each pair to k annotators in random recorded order, and judges it', async () => {
    const { task } = await admin.createTask({
      displayName: 'helpfulness',
      instructions: 'Pick the more helpful answer.',
      annotatorsPerItem: 3,
      assignmentLease: undefined,
      allowTie: true,
      requireRationale: false,
      items: Object.keys(TABLE).map((id) => ({
        id,
        prompt: user(`question ${id}`),
        candidates: [
          { id: 'x', messages: assistant(`answer x to ${id}`), source: 'model:a' },
          { id: 'y', messages: assistant(`answer y to ${id}`), source: 'model:b' },
        ],
        gold:
          GOLD[id] === undefined
            ? undefined
            : { preferredCandidateId: GOLD[id], explanation: 'known' },
        metadata: {},
      })),
    });
    taskId = task?.id ?? '';
    expect(task).toMatchObject({
      itemCount: 5,
      goldItemCount: 2,
      annotatorsPerItem: 3,
      judgementCount: 0,
    });

    for (const [r, rater] of raters.entries()) {
      for (;;) {
        const next = await rater.client.getNextAssignment({ taskId });
        const a = next.assignment;
        if (a === undefined) break;
        const winner = TABLE[a.itemId]?.[r] ?? '-';
        if (winner === '-') break;
        expect(a.candidateA?.source).toBe(''); // blind: sources never reach annotators
        expect([a.candidateA?.id, a.candidateB?.id].sort()).toEqual(['x', 'y']);
        const request = {
          assignmentId: a.id,
          choice: choiceFor(a, winner),
          rationale: '',
          timeSpent: { seconds: 3, nanos: 0 },
          idempotencyKey: `${rater.id}-${a.id}`,
          expectedRevision: 0,
        };
        const first = await rater.client.submitJudgement(request);
        expect(first.replayed).toBe(false);
        // A retry with the same key is answered from the record and never counts twice.
        const retry = await rater.client.submitJudgement(request);
        expect(retry).toEqual({ ...first, replayed: true });
      }
    }
    const { task: after } = await admin.getTask({ taskId });
    expect(after?.judgementCount).toBe(14);
    // The shown order is recorded per assignment, so position bias can be measured.
    const shown = await h.svc.db.query<{ n: bigint }>(
      "SELECT count(*) AS n FROM assignments a JOIN judgements j ON j.assignment_id = a.id WHERE a.task_id = $1 AND j.candidate_a_id = a.candidate_a_id AND a.candidate_a_id IN ('x', 'y')",
      [taskId],
    );
    expect(Number(shown.rows[0]?.n)).toBe(14);
  });

  it('refuses a reused key with another body and a stale revision, and keeps revisions', async () => {
    const r1 = raters[0];
    if (r1 === undefined) throw new Error('no rater');
    const { assignments } = await r1.client.listAssignments({
      taskId,
      annotatorId: '',
      state: 0,
      page: undefined,
    });
    const u2 = assignments.find((a) => a.itemId === 'u2');
    if (u2 === undefined) throw new Error('r1 has no u2 assignment');
    const reused = await failure(
      r1.client.submitJudgement({
        assignmentId: u2.id,
        choice: choiceFor(u2, 'y'),
        rationale: '',
        timeSpent: undefined,
        idempotencyKey: `${r1.id}-${u2.id}`,
        expectedRevision: 0,
      }),
    );
    expect(reused).toEqual({ code: status.ABORTED, reason: 'IDEMPOTENCY_KEY_REUSED' });
    const stale = await failure(
      r1.client.submitJudgement({
        assignmentId: u2.id,
        choice: choiceFor(u2, 'y'),
        rationale: '',
        timeSpent: undefined,
        idempotencyKey: 'stale',
        expectedRevision: 0,
      }),
    );
    expect(stale).toEqual({ code: status.ABORTED, reason: 'REVISION_CONFLICT' });
    // Revise to y, then back to x: the agreement below is unchanged, the history holds three.
    const revised = await r1.client.submitJudgement({
      assignmentId: u2.id,
      choice: choiceFor(u2, 'y'),
      rationale: 'changed my mind',
      timeSpent: undefined,
      idempotencyKey: 'rev-2',
      expectedRevision: 1,
    });
    expect(revised.judgement?.revision).toBe(2);
    const back = await r1.client.submitJudgement({
      assignmentId: u2.id,
      choice: choiceFor(u2, 'x'),
      rationale: 'back',
      timeSpent: undefined,
      idempotencyKey: 'rev-3',
      expectedRevision: 2,
    });
    expect(back.judgement?.revision).toBe(3);
    const history = await h.svc.db.query(
      'SELECT revision FROM judgement_revisions WHERE judgement_id = $1',
      [back.judgement?.id ?? ''],
    );
    expect(history.rowCount).toBe(3);
  });

  it('computes agreement equal to the hand-computed fractions', async () => {
    const reviewer = await h.jwtClient(['reviewer']);
    const { agreement } = await reviewer.getAgreement({ taskId });
    const [r1, r2, r3] = raters.map((r) => r.id);
    const kappa = (a: string | undefined, b: string | undefined): number | undefined =>
      agreement?.cohen.find(
        (c) => [c.annotatorAId, c.annotatorBId].sort().join() === [a, b].sort().join(),
      )?.kappa;
    expect(kappa(r1, r2)).toBeCloseTo(2 / 7, TOL);
    expect(kappa(r1, r3)).toBeCloseTo(5 / 9, TOL);
    expect(kappa(r2, r3)).toBeCloseTo(3 / 11, TOL);
    expect(agreement?.fleissItemCount).toBe(4);
    expect(agreement?.fleissKappa).toBeCloseTo(11 / 41, TOL);
    expect(agreement?.krippendorffItemCount).toBe(5);
    expect(agreement?.krippendorffAlpha).toBeCloseTo(9 / 22, TOL);
    expect(agreement?.judgementCount).toBe(14);
    // Gold: u1 right, u3 wrong for everyone.
    expect(agreement?.goldAccuracy.map((g) => [g.correctCount, g.judgedCount])).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
  });

  it('records direct pairs with their source, refusing identical responses', async () => {
    const r2 = raters[1];
    if (r2 === undefined) throw new Error('no rater');
    const request = {
      taskId,
      idempotencyKey: 'pairs-1',
      pairs: [
        {
          prompt: user('hi'),
          chosen: assistant('Hello! How can I help?'),
          rejected: assistant('what'),
          source: { kind: PairSourceKind.PAIR_SOURCE_KIND_HUMAN, detail: 'thumbs' },
          metadata: {},
        },
        {
          prompt: user('hi'),
          chosen: assistant('same'),
          rejected: assistant('same'),
          source: { kind: PairSourceKind.PAIR_SOURCE_KIND_HUMAN, detail: 'thumbs' },
          metadata: {},
        },
      ],
    };
    const answer = await r2.client.submitPairs(request);
    expect(answer.pairIds).toHaveLength(1);
    expect(answer.rejected).toEqual([{ index: 1, reason: 'chosen is identical to rejected' }]);
    expect((await r2.client.submitPairs(request)).replayed).toBe(true);
    const stored = await h.svc.db.query('SELECT source_kind, source_detail FROM pairs');
    expect(stored.rows).toEqual([
      { source_kind: PairSourceKind.PAIR_SOURCE_KIND_HUMAN, source_detail: 'thumbs' },
    ]);
  });

  it('publishes one event per judgement revision and per pair on NATS, none for replays', async () => {
    await h.svc.relay.drain();
    const deadline = Date.now() + 10_000;
    while ((judged.length < 16 || pairs.length < 1) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(judged).toHaveLength(16); // 14 first judgements + 2 revisions
    expect(pairs).toHaveLength(1);
  });

  it('flags duplicate items and items whose prompt is in a registered evaluation set at creation', async () => {
    expect(
      await admin.registerEvaluationSet({
        name: 'support-eval@3',
        prompts: [
          { messages: user('held-out question') },
          { messages: user('held-out  question') },
        ],
        datasetVersion: undefined,
        split: 0,
      }),
    ).toEqual({ registeredCount: 1, alreadyRegisteredCount: 0 });
    expect(
      await failure(
        admin.registerEvaluationSet({
          name: 'empty',
          prompts: [],
          datasetVersion: undefined,
          split: 0,
        }),
      ),
    ).toMatchObject({ code: status.INVALID_ARGUMENT });
    const item = (id: string, prompt: string) => ({
      id,
      prompt: user(prompt),
      candidates: [
        { id: 'x', messages: assistant('p'), source: '' },
        { id: 'y', messages: assistant('q'), source: '' },
      ],
      gold: undefined,
      metadata: {},
    });
    const { task } = await admin.createTask({
      displayName: 'flags',
      instructions: '',
      annotatorsPerItem: 1,
      assignmentLease: undefined,
      allowTie: false,
      requireRationale: false,
      items: [
        item('one', 'a  question'),
        item('two', 'a question'),
        item('three', 'held-out question'),
      ],
    });
    const { rows } = await h.svc.db.query<{
      id: string;
      duplicate_of: string | null;
      eval_overlap: boolean;
    }>('SELECT id, duplicate_of, eval_overlap FROM items WHERE task_id = $1 ORDER BY position', [
      task?.id ?? '',
    ]);
    expect(rows).toEqual([
      { id: 'one', duplicate_of: null, eval_overlap: false },
      { id: 'two', duplicate_of: 'one', eval_overlap: false },
      { id: 'three', duplicate_of: null, eval_overlap: true },
    ]);
    const three = await h.svc.db.query<{ metadata: Record<string, string> }>(
      'SELECT metadata FROM items WHERE task_id = $1 AND id = $2',
      [task?.id ?? '', 'three'],
    );
    expect(three.rows[0]?.metadata['lathe.eval_overlap']).toBe('support-eval@3');
  });

  it('snapshots agreed pairs into a DPO dataset version through the datasets service, with provenance', async () => {
    // min agreement 0.6 over k = 3: u2 (x, 2 of 3) passes; u4 (x, y, tie) has no majority; u5 has
    // 2 judgements < k. Gold u1 and u3 enter with their gold answer (x); the direct pair too.
    const answer = await admin.snapshotToDataset({
      taskId,
      dataset: 'helpfulness-prefs',
      minAgreement: 0.6,
      minJudgements: 0,
      includeGold: true,
      includeDirectPairs: true,
      evalFraction: 0,
      seed: 7,
      description: 'flow test',
    });
    expect(answer).toMatchObject({
      pairCount: 4,
      excludedCount: 2,
      datasetVersion: { dataset: 'helpfulness-prefs', version: 1 },
    });
    const datasets = createClient(DatasetServiceService, h.datasetsAddress ?? '', {
      token: h.datasetsToken ?? '',
      idempotent: [],
    });
    const { version } = await datasets.getDatasetVersion({
      dataset: 'helpfulness-prefs',
      version: 1,
    });
    datasets.close();
    expect(version?.trainCount).toBe(4);
    expect(version?.kind).toBe(2); // DATASET_KIND_PREFERENCE
    // Each record read back from the datasets service carries its pair's provenance.
    const reader = datasetsWriter(h.datasetsAddress ?? '', h.datasetsToken);
    const records = await reader.readRecords(
      { dataset: 'helpfulness-prefs', version: 1, manifestSha256: '' },
      DatasetSplit.DATASET_SPLIT_UNSPECIFIED,
      0,
    );
    reader.close();
    const snapshot = await h.svc.db.query<{ id: string }>(
      'SELECT id FROM snapshots WHERE dataset = $1',
      ['helpfulness-prefs'],
    );
    const provenance = records.map(
      (r) => (r.metadata as { provenance?: Record<string, unknown> } | undefined)?.provenance,
    );
    expect(provenance.map((p) => p?.['snapshotId'])).toEqual(
      records.map(() => snapshot.rows[0]?.id),
    );
    expect(provenance.map((p) => [p?.['taskId'], p?.['itemId'], p?.['agreement']])).toEqual([
      [taskId, 'u1', 1],
      [taskId, 'u2', 2 / 3],
      [taskId, 'u3', 0],
      [taskId, null, 1],
    ]);
    expect(provenance[1]).toMatchObject({
      chosenId: 'x',
      annotators: raters.map((r) => r.id).sort(),
      votes: 2,
      judgements: 3,
      gold: false,
    });
    const { rows } = await h.svc.db.query<{
      item_id: string | null;
      chosen_id: string | null;
      annotators: string[];
      votes: number;
      judgements: number;
      agreement: number;
      gold: boolean;
    }>(
      'SELECT item_id, chosen_id, annotators, votes, judgements, agreement, gold FROM snapshot_pairs ORDER BY line',
    );
    const ids = raters.map((r) => r.id).sort();
    expect(rows).toEqual([
      {
        item_id: 'u1',
        chosen_id: 'x',
        annotators: ids,
        votes: 3,
        judgements: 3,
        agreement: 1,
        gold: true,
      },
      {
        item_id: 'u2',
        chosen_id: 'x',
        annotators: ids,
        votes: 2,
        judgements: 3,
        agreement: 2 / 3,
        gold: false,
      },
      {
        item_id: 'u3',
        chosen_id: 'x',
        annotators: ids,
        votes: 0,
        judgements: 3,
        agreement: 0,
        gold: true,
      },
      {
        item_id: null,
        chosen_id: null,
        annotators: [`annotator:${raters[1]?.id ?? ''}`],
        votes: 1,
        judgements: 1,
        agreement: 1,
        gold: false,
      },
    ]);
    await h.svc.relay.drain();
    const deadline = Date.now() + 10_000;
    while (snapshots.length < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(snapshots).toEqual([4]);
    // The snapshot closed u2: its judgements can no longer be revised.
    const r1 = raters[0];
    const { assignments } = await r1!.client.listAssignments({
      taskId,
      annotatorId: '',
      state: 0,
      page: undefined,
    });
    const u2 = assignments.find((a) => a.itemId === 'u2');
    const closed = await failure(
      r1!.client.submitJudgement({
        assignmentId: u2?.id ?? '',
        choice: Choice.CHOICE_A,
        rationale: '',
        timeSpent: undefined,
        idempotencyKey: 'after-close',
        expectedRevision: 3,
      }),
    );
    expect(closed).toEqual({ code: status.FAILED_PRECONDITION, reason: 'ASSIGNMENT_NOT_HELD' });
  });

  it('imports items from the preference dataset version, a seeded sample with gold answers', async () => {
    const { task } = await admin.createTask({
      displayName: 'from dataset',
      instructions: '',
      annotatorsPerItem: 1,
      assignmentLease: undefined,
      allowTie: false,
      requireRationale: false,
      items: [],
    });
    const importTask = task?.id ?? '';
    const version = { dataset: 'helpfulness-prefs', version: 1, manifestSha256: '' };
    const imported = await admin.importItemsFromDataset({
      taskId: importTask,
      datasetVersion: version,
      split: 0,
      maxItems: 3,
      goldFraction: 0.5,
      seed: 11,
    });
    expect(imported).toEqual({ importedCount: 3, goldCount: 2 });
    const { rows } = await h.svc.db.query<{
      prompt: unknown;
      candidates: { id: string; source: string }[];
      gold_preferred: string | null;
    }>(
      'SELECT prompt, candidates, gold_preferred FROM items WHERE task_id = $1 ORDER BY position',
      [importTask],
    );
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.candidates.map((c) => c.id).sort()).toEqual(['a', 'b']);
      const chosen = row.candidates.find((c) => c.source === 'helpfulness-prefs@1:chosen');
      if (row.gold_preferred !== null) expect(row.gold_preferred).toBe(chosen?.id);
    }
    expect(rows.filter((r) => r.gold_preferred !== null)).toHaveLength(2);
    // The same seed picks the same records.
    const { task: again } = await admin.createTask({
      displayName: 'again',
      instructions: '',
      annotatorsPerItem: 1,
      assignmentLease: undefined,
      allowTie: false,
      requireRationale: false,
      items: [],
    });
    await admin.importItemsFromDataset({
      taskId: again?.id ?? '',
      datasetVersion: version,
      split: 0,
      maxItems: 3,
      goldFraction: 0.5,
      seed: 11,
    });
    const ids = async (t: string) =>
      (
        await h.svc.db.query<{ id: string }>(
          'SELECT id FROM items WHERE task_id = $1 ORDER BY position',
          [t],
        )
      ).rows.map((r) => r.id);
    expect(await ids(again?.id ?? '')).toEqual(await ids(importTask));
  });

  it('registers the prompts of a dataset version as an evaluation set and flags items that reuse one', async () => {
    const version = { dataset: 'helpfulness-prefs', version: 1, manifestSha256: '' };
    const registered = await admin.registerEvaluationSet({
      name: 'prefs-eval',
      prompts: [],
      datasetVersion: version,
      split: 0,
    });
    // Four pairs over fewer distinct prompts; none registered before.
    expect(registered.alreadyRegisteredCount).toBe(0);
    expect(registered.registeredCount).toBeGreaterThan(0);
    const again = await admin.registerEvaluationSet({
      name: 'prefs-eval-2',
      prompts: [],
      datasetVersion: version,
      split: 0,
    });
    expect(again).toEqual({
      registeredCount: 0,
      alreadyRegisteredCount: registered.registeredCount,
    });
    const reader = datasetsWriter(h.datasetsAddress ?? '', h.datasetsToken);
    const [first] = await reader.readRecords(version, DatasetSplit.DATASET_SPLIT_UNSPECIFIED, 1);
    reader.close();
    const reused = (
      first?.content?.$case === 'preference' ? first.content.preference.prompt : []
    ).map((m) => ({ ...m, content: `  ${m.content} ` }));
    const candidates = [
      { id: 'x', messages: assistant('p'), source: '' },
      { id: 'y', messages: assistant('q'), source: '' },
    ];
    const { task } = await admin.createTask({
      displayName: 'overlap',
      instructions: '',
      annotatorsPerItem: 1,
      assignmentLease: undefined,
      allowTie: false,
      requireRationale: false,
      items: [
        {
          id: 'fresh',
          prompt: user('a prompt nobody evaluates on'),
          candidates,
          gold: undefined,
          metadata: {},
        },
        { id: 'reused', prompt: reused, candidates, gold: undefined, metadata: {} },
      ],
    });
    const { rows } = await h.svc.db.query<{
      id: string;
      eval_overlap: boolean;
      set: string | null;
    }>(
      `SELECT id, eval_overlap, metadata->>'lathe.eval_overlap' AS set FROM items WHERE task_id = $1 ORDER BY position`,
      [task?.id ?? ''],
    );
    expect(rows).toEqual([
      { id: 'fresh', eval_overlap: false, set: null },
      { id: 'reused', eval_overlap: true, set: 'prefs-eval' },
    ]);
  });
});
