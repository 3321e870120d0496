// Benchmark: sustained judgements per second from many concurrent annotator clients over gRPC,
// with p50/p99 latency of SubmitJudgement, against the real service process on PostgreSQL and
// NATS. At the end it checks that no judgement was lost or counted twice. Not a test: it prints
// figures and never fails on time.
//
//   node --import tsx services/preferences/bench/judgement-throughput.ts [annotators=50] [items=400] [k=3]
import { fileURLToPath } from 'node:url';
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats } from '@lathe/testkit';
import { createPostgresClient } from '@lathe/store';

const annotators = Number(process.argv[2] ?? 50);
const itemCount = Number(process.argv[3] ?? 400);
const k = Number(process.argv[4] ?? 3);
const ADMIN = 'bench-admin-secret-that-is-long-enough-0123456789';

const db = await createTestDatabase();
const nats = await startNats();
const svc = await spawnService({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  cwd: REPO_ROOT,
  env: {
    LATHE_JWT_SECRET: 'bench-unused-jwt-secret-of-32-bytes!!',
    LATHE_JWT_ISSUER: 'https://bench.invalid',
    LATHE_PREFERENCES_STORE_URL: db.url,
    NATS_URL: nats.url,
    LATHE_PREFERENCES_ADMIN_TOKEN: ADMIN,
    LATHE_PREFERENCES_WEB_PORT: '0',
    LATHE_PREFERENCES_RATE_PER_SECOND: '100000',
    LATHE_PREFERENCES_RATE_BURST: '100000',
  },
  startTimeoutMs: 60_000,
});
const admin = createClient(PreferenceServiceService, svc.address, { token: ADMIN, idempotent: [] });
const user = (content: string) => [{ role: 2, content }];
const reply = (content: string) => [{ role: 3, content }];
const { task } = await admin.createTask({
  displayName: 'bench',
  instructions: '',
  annotatorsPerItem: k,
  assignmentLease: undefined,
  allowTie: true,
  requireRationale: false,
  items: Array.from({ length: itemCount }, (_, i) => ({
    id: `i${String(i)}`,
    prompt: user(`prompt ${String(i)}`),
    candidates: [
      { id: 'x', messages: reply(`x ${String(i)}`), source: '' },
      { id: 'y', messages: reply(`y ${String(i)}`), source: '' },
    ],
    gold: undefined,
    metadata: {},
  })),
});
const taskId = task?.id ?? '';

const workers = await Promise.all(
  Array.from({ length: annotators }, async (_, i) => {
    const { annotator } = await admin.createAnnotator({
      displayName: `a${String(i)}`,
      email: '',
      maxRole: Role.ROLE_ANNOTATOR,
    });
    const { secret } = await admin.issueAnnotatorToken({
      annotatorId: annotator?.id ?? '',
      role: Role.ROLE_ANNOTATOR,
      ttl: undefined,
      description: 'bench',
    });
    return createClient(PreferenceServiceService, svc.address, { token: secret, idempotent: [] });
  }),
);

const latencies: number[] = [];
let accepted = 0;
let replayed = 0;
const started = performance.now();
await Promise.all(
  workers.map(async (client, w) => {
    for (let n = 0; ; n++) {
      const { assignment, exhausted } = await client.getNextAssignment({ taskId });
      if (assignment === undefined) {
        if (exhausted) return;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const request = {
        assignmentId: assignment.id,
        choice:
          [Choice.CHOICE_A, Choice.CHOICE_B, Choice.CHOICE_TIE][(w + n) % 3] ?? Choice.CHOICE_A,
        rationale: '',
        timeSpent: { seconds: 1, nanos: 0 },
        idempotencyKey: `k-${assignment.id}`,
        expectedRevision: 0,
      };
      const t = performance.now();
      const answer = await client.submitJudgement(request);
      latencies.push(performance.now() - t);
      if (!answer.replayed) accepted += 1;
      // Every tenth submission is retried, as a client that lost the answer would: it must replay.
      if (n % 10 === 0 && (await client.submitJudgement(request)).replayed) replayed += 1;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;

const check = createPostgresClient({ url: db.url, schema: 'preferences' });
const { rows } = await check.query<{ judgements: bigint; pairs_off: bigint; revisions: bigint }>(
  `SELECT (SELECT count(*) FROM judgements WHERE task_id = $1) AS judgements,
          (SELECT count(*) FROM (SELECT pair_id FROM judgements WHERE task_id = $1 GROUP BY pair_id HAVING count(*) <> $2) x) AS pairs_off,
          (SELECT count(*) FROM judgement_revisions r JOIN judgements j ON j.id = r.judgement_id WHERE j.task_id = $1) AS revisions`,
  [taskId, k],
);
await check.close();
const stored = Number(rows[0]?.judgements);
latencies.sort((a, b) => a - b);
const pct = (p: number): string =>
  (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN).toFixed(1);
console.log(`annotators ${String(annotators)}, items ${String(itemCount)}, k ${String(k)}`);
console.log(
  `judgements ${String(accepted)} in ${seconds.toFixed(2)} s (incl. GetNextAssignment per judgement): ${(accepted / seconds).toFixed(0)} judgements/s`,
);
console.log(
  `SubmitJudgement latency ms: p50 ${pct(0.5)}, p99 ${pct(0.99)} over ${String(latencies.length)} calls (${String(replayed)} retries replayed)`,
);
console.log(
  `check: stored ${String(stored)}, expected ${String(itemCount * k)}, accepted ${String(accepted)}, revisions ${String(rows[0]?.revisions)}, pairs without exactly k judgements ${String(rows[0]?.pairs_off)} -> ${
    stored === itemCount * k &&
    stored === accepted &&
    Number(rows[0]?.pairs_off) === 0 &&
    Number(rows[0]?.revisions) === stored
      ? 'OK: none lost, none counted twice'
      : 'MISMATCH'
  }`,
);
admin.close();
for (const w of workers) w.close();
await svc.stop('SIGTERM');
await nats.close();
await db.close();
