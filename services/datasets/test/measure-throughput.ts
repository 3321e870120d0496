// Ingest and curation throughput of the datasets service, as a real process on real PostgreSQL
// and NATS (JetStream events, object-store artifacts), with the server's resident memory sampled
// while it works. Not a test: run on demand,
//   node --conditions=lathe-source --import tsx services/datasets/test/measure-throughput.ts [records]
// It prints figures; it never fails on time.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats } from '@lathe/testkit';
import { DatasetsStreamClient } from '../src/client/datasets-stream-client.js';
import { seededRandom } from './seeded-random.js';

const RECORDS = Number(process.argv[2] ?? 100_000);
const WORDS = [
  'model',
  'data',
  'train',
  'token',
  'answer',
  'question',
  'river',
  'paper',
  'light',
  'stone',
  'music',
  'number',
  'garden',
  'window',
  'planet',
  'signal',
  'engine',
  'market',
  'forest',
  'letter',
];

/**
 * Synthetic chat JSONL in 1 MiB chunks: 2% exact duplicates, 2% near-duplicates (one word
 * changed), 1% malformed lines; the rest distinct 30-60 word answers.
 */
function* syntheticBody(count: number, bytes: { total: number }): Generator<Uint8Array> {
  const next = seededRandom(1);
  const sentence = (n: number): string =>
    Array.from(
      { length: n },
      () => `${WORDS[Math.floor(next() * WORDS.length)]}${Math.floor(next() * 1000)}`,
    ).join(' ');
  const recent: string[] = [];
  let buffer = '';
  for (let i = 0; i < count; i++) {
    const roll = next();
    let line: string;
    if (roll < 0.01) line = `{"messages": [broken line ${i}`;
    else if (roll < 0.03 && recent.length > 0)
      line = recent[Math.floor(next() * recent.length)] ?? '';
    else if (roll < 0.05 && recent.length > 0)
      line = (recent[Math.floor(next() * recent.length)] ?? '').replace(/[a-z]+\d+/, `changed${i}`);
    else {
      line = JSON.stringify({
        messages: [
          { role: 'user', content: `Question ${i}: ${sentence(8)}?` },
          { role: 'assistant', content: sentence(30 + Math.floor(next() * 30)) },
        ],
      });
      recent.push(line);
      if (recent.length > 100) recent.shift();
    }
    buffer += `${line}\n`;
    if (buffer.length >= 1 << 20) {
      const chunk = Buffer.from(buffer, 'utf8');
      bytes.total += chunk.length;
      buffer = '';
      yield chunk;
    }
  }
  const chunk = Buffer.from(buffer, 'utf8');
  bytes.total += chunk.length;
  yield chunk;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? 0 : Number(m[1]) / 1024;
}

/** Samples a process's RSS every 100 ms while `work` runs. */
async function sampled<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; rss: number[] }> {
  const rss: number[] = [];
  const timer = setInterval(() => rss.push(rssMiB(pid)), 100);
  const start = performance.now();
  try {
    const result = await work();
    return { result, seconds: (performance.now() - start) / 1000, rss };
  } finally {
    clearInterval(timer);
  }
}

const quarter = (xs: number[], q: number): number =>
  Math.max(...xs.slice(Math.floor((q * xs.length) / 4), Math.floor(((q + 1) * xs.length) / 4)));

const nats = await startNats();
const db = await createTestDatabase();
const svc = await spawnService({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  cwd: REPO_ROOT,
  env: {
    LATHE_AUTH_MODE: 'none',
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    LATHE_DATASETS_ARTIFACT_STORE: 'nats',
  },
  startTimeoutMs: 60_000,
});
const pid = svc.child.pid ?? 0;
const unary = createClient(DatasetServiceService, svc.address, {
  idempotent: [],
  deadlineMs: 600_000,
});
const stream = new DatasetsStreamClient(svc.address, undefined);
try {
  await unary.createDataset({
    name: 'bench',
    kind: DatasetKind.DATASET_KIND_SFT,
    description: '',
    labels: {},
  });
  const idle = rssMiB(pid);
  const bytes = { total: 0 };
  const up = await sampled(pid, () =>
    stream.uploadStream(
      { dataset: 'bench', format: RecordFormat.RECORD_FORMAT_AUTO, maxReportedRejections: 10 },
      Readable.from(syntheticBody(RECORDS, bytes), { objectMode: true }),
    ),
  );
  const mb = bytes.total / 1e6;
  const u = up.result.upload;
  console.log(
    `records: ${RECORDS}, body ${mb.toFixed(1)} MB; server RSS idle ${idle.toFixed(0)} MiB`,
  );
  console.log(
    `ingest: ${up.seconds.toFixed(1)} s, ${(RECORDS / up.seconds).toFixed(0)} records/s, ${(mb / up.seconds).toFixed(2)} MB/s; accepted ${u?.acceptedCount}, rejected ${u?.rejectedCount}; ` +
      `server RSS max per quarter of the upload ${[0, 1, 2, 3].map((q) => quarter(up.rss, q).toFixed(0)).join(' / ')} MiB`,
  );
  const cur = await sampled(pid, () =>
    unary.curateDataset(
      CurateDatasetRequest.fromPartial({
        dataset: 'bench',
        spec: {
          dedupeExact: true,
          nearDuplicates: { jaccardThreshold: 0.8, shingleSize: 5 },
          dropEmptyTurns: true,
          junk: {},
          split: { evalFraction: 0.05, seed: 1 },
        },
      }),
    ),
  );
  const v = cur.result.version;
  console.log(
    `curate: ${cur.seconds.toFixed(1)} s, ${(RECORDS / cur.seconds).toFixed(0)} records/s, ${(mb / cur.seconds).toFixed(2)} MB/s; train ${v?.trainCount}, eval ${v?.evalCount}, removed ${v?.removedCount} ` +
      `(${cur.result.stats?.removals.map((r) => `${r.reason}:${r.count}`).join(', ')}); server RSS max per quarter ${[0, 1, 2, 3].map((q) => quarter(cur.rss, q).toFixed(0)).join(' / ')} MiB`,
  );
} finally {
  unary.close();
  stream.close();
  await svc.stop('SIGTERM');
  await db.close();
  await nats.close();
}
