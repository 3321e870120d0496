import { status } from '@grpc/grpc-js';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { isLatheError } from '@lathe/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assistant, startHarness, user } from './harness.js';
import type { Harness, PreferenceClient } from './harness.js';

async function failure(
  p: Promise<unknown>,
): Promise<{ code: number; message: string; fields: string[]; retryMs: number | undefined }> {
  const e = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (!isLatheError(e)) throw e;
  return {
    code: e.code,
    message: e.rawMessage,
    fields: (e.details.fieldViolations ?? []).map((v) => v.field),
    retryMs: e.details.retryDelayMs,
  };
}

const item = (id: string) => ({
  id,
  prompt: user(`prompt ${id}`),
  candidates: [
    { id: 'x', messages: assistant(`x ${id}`), source: '' },
    { id: 'y', messages: assistant(`y ${id}`), source: '' },
  ],
  gold: undefined,
  metadata: {},
});

describe('preferences security', () => {
  let h: Harness;
  let admin: PreferenceClient;
  let taskId: string;

  beforeAll(async () => {
    // A small budget per annotator so that a burst crosses it.
    h = await startHarness({
      LATHE_PREFERENCES_RATE_PER_SECOND: '2',
      LATHE_PREFERENCES_RATE_BURST: '8',
    });
    admin = await h.jwtClient(['admin']);
    const { task } = await admin.createTask({
      displayName: 'sec',
      instructions: '',
      annotatorsPerItem: 2,
      assignmentLease: undefined,
      allowTie: false,
      requireRationale: false,
      items: [item('i1'), item('i2')],
    });
    taskId = task?.id ?? '';
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  const counts = async (): Promise<unknown> =>
    (
      await h.svc.db.query(
        'SELECT (SELECT count(*) FROM judgements) AS j, (SELECT count(*) FROM judgement_revisions) AS r, (SELECT count(*) FROM idempotency_records) AS k',
      )
    ).rows[0];

  it("an annotator cannot read or answer another annotator's assignment, whatever ids it sends", async () => {
    const alice = await h.annotator('alice');
    const bob = await h.annotator('bob');
    const { assignment } = await alice.client.getNextAssignment({ taskId });
    if (assignment === undefined) throw new Error('alice got no assignment');
    const before = await counts();
    const answer = await failure(
      bob.client.submitJudgement({
        assignmentId: assignment.id,
        choice: Choice.CHOICE_A,
        rationale: '',
        timeSpent: undefined,
        idempotencyKey: 'steal',
        expectedRevision: 0,
      }),
    );
    expect(answer.code).toBe(status.NOT_FOUND);
    expect(answer.message).toBe(`assignment "${assignment.id}" not found`); // same as an id that does not exist
    expect(await counts()).toEqual(before);
    // Listing with alice's id still shows bob only his own (none yet).
    const listed = await bob.client.listAssignments({
      taskId,
      annotatorId: alice.id,
      state: 0,
      page: undefined,
    });
    expect(listed.assignments).toEqual([]);
    // Bob's own next assignment is a different pair, not alice's lease.
    const own = await bob.client.getNextAssignment({ taskId });
    expect(own.assignment?.id).not.toBe(assignment.id);
    expect(own.assignment?.annotatorId).toBe(bob.id);
    // Annotators cannot call admin or reviewer rpcs.
    expect(
      (
        await failure(
          bob.client.createTask({
            displayName: 't',
            instructions: '',
            annotatorsPerItem: 1,
            assignmentLease: undefined,
            allowTie: false,
            requireRationale: false,
            items: [],
          }),
        )
      ).code,
    ).toBe(status.PERMISSION_DENIED);
    expect((await failure(bob.client.getAgreement({ taskId }))).code).toBe(
      status.PERMISSION_DENIED,
    );
    // Alice can still answer her own.
    const mine = await alice.client.submitJudgement({
      assignmentId: assignment.id,
      choice: Choice.CHOICE_A,
      rationale: '',
      timeSpent: undefined,
      idempotencyKey: 'own',
      expectedRevision: 0,
    });
    expect(mine.judgement?.annotatorId).toBe(alice.id);
  });

  it('a revoked token is refused at once, and the secret is stored only as a hash', async () => {
    const carol = await h.annotator('carol');
    await carol.client.getTask({ taskId });
    const revoked = await admin.revokeAnnotatorToken({
      tokenId: carol.tokenId,
      reason: 'left the project',
    });
    expect(revoked.token?.revokeTime).toBeInstanceOf(Date);
    const refused = await failure(carol.client.getTask({ taskId }));
    expect(refused).toMatchObject({
      code: status.UNAUTHENTICATED,
      message: 'bearer token was revoked',
    });
    const unknown = await failure(h.tokenClient('lpt_not-a-real-secret').getTask({ taskId }));
    expect(unknown.code).toBe(status.UNAUTHENTICATED);
    const stored = await h.svc.db.query<{ secret_sha256: Uint8Array }>(
      'SELECT secret_sha256 FROM annotator_tokens WHERE id = $1',
      [carol.tokenId],
    );
    expect(Buffer.from(stored.rows[0]?.secret_sha256 ?? []).toString('utf8')).not.toContain(
      carol.secret.slice(4, 20),
    );
    expect(stored.rows[0]?.secret_sha256.length).toBe(32);
  });

  it('refuses a 10 MB response and a 10 MB rationale with INVALID_ARGUMENT naming the field', async () => {
    const big = 'z'.repeat(10 * 1024 * 1024);
    const huge = {
      ...item('huge'),
      candidates: [
        { id: 'x', messages: assistant(big), source: '' },
        { id: 'y', messages: assistant('ok'), source: '' },
      ],
    };
    const refused = await failure(admin.addItems({ taskId, items: [huge] }));
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.fields).toEqual(['items[0].candidates[0].messages[0].content']);
    const dave = await h.annotator('dave');
    const { assignment } = await dave.client.getNextAssignment({ taskId });
    const before = await counts();
    const rationale = await failure(
      dave.client.submitJudgement({
        assignmentId: assignment?.id ?? '',
        choice: Choice.CHOICE_A,
        rationale: big,
        timeSpent: undefined,
        idempotencyKey: 'big',
        expectedRevision: 0,
      }),
    );
    expect(rationale).toMatchObject({ code: status.INVALID_ARGUMENT, fields: ['rationale'] });
    expect(await counts()).toEqual(before);
    const { task } = await admin.getTask({ taskId });
    expect(task?.itemCount).toBe(2);
  });

  it('a burst beyond the per-annotator rate limit gets RESOURCE_EXHAUSTED with a retry delay', async () => {
    const erin = await h.annotator('erin');
    const frank = await h.annotator('frank');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => erin.client.getTask({ taskId })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const exhausted = await Promise.all(
      results.flatMap((r) =>
        r.status === 'rejected'
          ? [
              failure(
                Promise.resolve().then(() => {
                  throw r.reason;
                }),
              ),
            ]
          : [],
      ),
    );
    // Burst 8 at 2/s: 8 pass at once (9 if a refill lands during the burst), the rest are refused.
    expect(ok).toBeGreaterThanOrEqual(8);
    expect(ok).toBeLessThanOrEqual(9);
    expect(exhausted.map((e) => e.code)).toEqual(
      Array.from({ length: 20 - ok }, () => status.RESOURCE_EXHAUSTED),
    );
    expect(exhausted[0]?.retryMs).toBeGreaterThan(0);
    // Another annotator has its own budget.
    await expect(frank.client.getTask({ taskId })).resolves.toBeDefined();
  });
});
