// Sustained judgements per second from many concurrent annotator clients over gRPC, with
// p50/p99 latency of SubmitJudgement and GetNextAssignment, against the real preferences process
// on PostgreSQL and NATS. At the end it checks in the database that no judgement was lost or
// counted twice. Not a test: it prints figures and never fails on time.
//
//   node --conditions=lathe-source --import tsx bench/src/preferences-throughput.ts \
//     [--annotators 50] [--items 400] [--k 3] [--cpu-prof DIR]
//
// --cpu-prof writes the service's V8 CPU profile to DIR/preferences.cpuprofile (through
// preferences-cpu-profile.ts), to see where its time goes.
import { parseArgs } from 'node:util';
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import { createPostgresClient } from '@lathe/store';
import { createTestDatabase, startNats } from '@lathe/testkit';

const { values } = parseArgs({
  options: {
    annotators: { type: 'string', default: '50' },
    items: { type: 'string', default: '400' },
    k: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
  },
});
const annotators = Number(values.annotators);
const itemCount = Number(values.items);
const k = Number(values.k);
const ADMIN = 'bench-admin-secret-that-is-long-enough-0123456789';

const db = await createTestDatabase();
const nats = await startNats();
const svc = await spawnService({
  entry: `${REPO_ROOT}/services/preferences/src/main.ts`,
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
    ...(values['cpu-prof'] === undefined
      ? {}
      : {
          NODE_OPTIONS: `--import tsx --import ${REPO_ROOT}/bench/src/preferences-cpu-profile.ts`,
          LATHE_BENCH_CPU_PROFILE: `${values['cpu-prof']}/preferences.cpuprofile`,
        }),
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
const nextLatencies: number[] = [];
let accepted = 0;
let replayed = 0;
const started = performance.now();
await Promise.all(
  workers.map(async (client, w) => {
    for (let n = 0; ; n++) {
      const asked = performance.now();
      const { assignment, exhausted } = await client.getNextAssignment({ taskId });
      nextLatencies.push(performance.now() - asked);
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
const pct = (values: number[], p: number): string => {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN).toFixed(1);
};
console.log(`annotators ${String(annotators)}, items ${String(itemCount)}, k ${String(k)}`);
console.log(
  `judgements ${String(accepted)} in ${seconds.toFixed(2)} s (incl. GetNextAssignment per judgement): ${(accepted / seconds).toFixed(0)} judgements/s`,
);
console.log(
  `SubmitJudgement latency ms: p50 ${pct(latencies, 0.5)}, p99 ${pct(latencies, 0.99)} over ${String(latencies.length)} calls (${String(replayed)} retries replayed)`,
);
console.log(
  `GetNextAssignment latency ms: p50 ${pct(nextLatencies, 0.5)}, p99 ${pct(nextLatencies, 0.99)} over ${String(nextLatencies.length)} calls`,
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
