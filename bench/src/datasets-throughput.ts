// Ingest and curation throughput of the datasets service, as a real process on real PostgreSQL
// and NATS (JetStream events, object-store artifacts), with the server's resident memory sampled
// while it works; each size is ingested in a fresh service process and curated in another, so
// peak curate RSS at 10k, 100k and 300k records shows whether curation memory stays flat
// (target: every size within ~10% of the smallest). Not a test: it prints figures, never fails
// on time.
//   node --conditions=lathe-source --import tsx bench/src/datasets-throughput.ts \
//     [--records 10000,100000,300000] [--curation-memory-mib 16] [--heap-cap-mib N]
// With --heap-cap-mib the curating service runs under --max-old-space-size=N: V8 then collects
// instead of growing its heap, and dies out of heap if live memory passes N, so the smallest cap
// a size completes under bounds its live heap whatever RSS the uncapped heap grows to.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { DatasetsStreamClient } from '@lathe/datasets';
import { SeededRandom } from '@lathe/llm';
import { createClient } from '@lathe/service-kit';
import { REPO_ROOT, spawnService } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats } from '@lathe/testkit';
import type { TestDatabase, TestNats } from '@lathe/testkit';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '10000,100000,300000' },
    // Unset: the service's default (LATHE_DATASETS_CURATION_MEMORY_MIB).
    'curation-memory-mib': { type: 'string' },
    // Unset: V8's own heap limit. Applies to the curating service only.
    'heap-cap-mib': { type: 'string' },
  },
});
const SIZES = values.records.split(',').map(Number);
const HEAP_CAP = values['heap-cap-mib'];
if (HEAP_CAP !== undefined && !/^[1-9]\d*$/.test(HEAP_CAP))
  throw new Error(`--heap-cap-mib must be a positive whole number of MiB, got "${HEAP_CAP}"`);

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
  const random = SeededRandom.fromSeed(1);
  const next = (): number => random.nextFloat();
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

interface Figures {
  readonly records: number;
  readonly mb: number;
  readonly ingestIdle: number;
  readonly ingestSeconds: number;
  readonly ingestPeak: number;
  readonly curateIdle: number;
  readonly curateSeconds: number;
  readonly curatePeak: number;
}

interface Service {
  readonly pid: number;
  readonly unary: ReturnType<typeof createClient<typeof DatasetServiceService>>;
  readonly stream: DatasetsStreamClient;
}

/**
 * Runs `work` against a fresh service process. Ingest and curation each get their own, so the
 * heap that V8 grew while ingesting (it keeps what it grew) does not count as curation's memory.
 */
async function withService<T>(
  nats: TestNats,
  db: TestDatabase,
  work: (s: Service) => Promise<T>,
  heapCapMiB?: string,
): Promise<T> {
  const svc = await spawnService({
    entry: `${REPO_ROOT}/services/datasets/src/main.ts`,
    cwd: REPO_ROOT,
    env: {
      LATHE_AUTH_MODE: 'none',
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      LATHE_DATASETS_ARTIFACT_STORE: 'nats',
      ...(values['curation-memory-mib'] === undefined
        ? {}
        : { LATHE_DATASETS_CURATION_MEMORY_MIB: values['curation-memory-mib'] }),
      ...(heapCapMiB === undefined ? {} : { NODE_OPTIONS: `--max-old-space-size=${heapCapMiB}` }),
    },
    startTimeoutMs: 60_000,
  });
  const unary = createClient(DatasetServiceService, svc.address, {
    idempotent: [],
    deadlineMs: 1_800_000,
  });
  const stream = new DatasetsStreamClient(svc.address, undefined);
  try {
    return await work({ pid: svc.child.pid ?? 0, unary, stream });
  } catch (error) {
    // The caller only sees INTERNAL: show what the service logged about it.
    for (const line of svc.stdout.filter((l) => /"level":"?(error|50)/.test(l)).slice(-3))
      console.error(`service log: ${line}`);
    // Logs go to stdout: stderr holds why a service died (e.g. out of heap under --heap-cap-mib).
    // V8's last GCs and its FATAL line, without its banners and native stack frames.
    const said = svc.stderr.filter((l) => l.trim() !== '' && !/^\s*(\d+: 0x|<---|-----)/.test(l));
    for (const line of said.slice(-5)) console.error(`service stderr: ${line}`);
    throw error;
  } finally {
    unary.close();
    stream.close();
    await svc.stop('SIGTERM');
  }
}

/** One size: upload in one fresh service process, then curate in another, sampling their RSS. */
async function measure(records: number, nats: TestNats, db: TestDatabase): Promise<Figures> {
  const name = `bench-${records}`;
  const bytes = { total: 0 };
  const ingest = await withService(nats, db, async ({ pid, unary, stream }) => {
    await unary.createDataset({
      name,
      kind: DatasetKind.DATASET_KIND_SFT,
      description: '',
      labels: {},
    });
    const idle = rssMiB(pid);
    const up = await sampled(pid, () =>
      stream.uploadStream(
        { dataset: name, format: RecordFormat.RECORD_FORMAT_AUTO, maxReportedRejections: 10 },
        Readable.from(syntheticBody(records, bytes), { objectMode: true }),
      ),
    );
    const u = up.result.upload;
    const mb = bytes.total / 1e6;
    console.log(
      `${records} records, body ${mb.toFixed(1)} MB\n` +
        `  ingest: ${up.seconds.toFixed(1)} s, ${(records / up.seconds).toFixed(0)} records/s, ${(mb / up.seconds).toFixed(2)} MB/s; accepted ${u?.acceptedCount}, rejected ${u?.rejectedCount}; ` +
        `server RSS idle ${idle.toFixed(0)} MiB, max per quarter ${[0, 1, 2, 3].map((q) => quarter(up.rss, q).toFixed(0)).join(' / ')} MiB`,
    );
    return { idle, seconds: up.seconds, peak: Math.max(...up.rss) };
  });
  const mb = bytes.total / 1e6;
  const curate = await withService(
    nats,
    db,
    async ({ pid, unary }) => {
      const idle = rssMiB(pid);
      const cur = await sampled(pid, () =>
        unary.curateDataset(
          CurateDatasetRequest.fromPartial({
            dataset: name,
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
        `  curate: ${cur.seconds.toFixed(1)} s, ${(records / cur.seconds).toFixed(0)} records/s, ${(mb / cur.seconds).toFixed(2)} MB/s; train ${v?.trainCount}, eval ${v?.evalCount}, removed ${v?.removedCount} ` +
          `(${cur.result.stats?.removals.map((r) => `${r.reason}:${r.count}`).join(', ')}); server RSS idle ${idle.toFixed(0)} MiB, max per quarter ${[0, 1, 2, 3].map((q) => quarter(cur.rss, q).toFixed(0)).join(' / ')} MiB`,
      );
      return { idle, seconds: cur.seconds, peak: Math.max(...cur.rss) };
    },
    HEAP_CAP,
  );
  return {
    records,
    mb,
    ingestIdle: ingest.idle,
    ingestSeconds: ingest.seconds,
    ingestPeak: ingest.peak,
    curateIdle: curate.idle,
    curateSeconds: curate.seconds,
    curatePeak: curate.peak,
  };
}

if (HEAP_CAP !== undefined) console.log(`curating service heap capped at ${HEAP_CAP} MiB`);
const nats = await startNats();
const db = await createTestDatabase();
try {
  const all: Figures[] = [];
  for (const records of SIZES) all.push(await measure(records, nats, db));
  console.log(
    '\n| records | MB | ingest records/s | ingest MB/s | curate records/s | curate MB/s | RSS idle (ingest, curate) | peak ingest | peak curate |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const f of all)
    console.log(
      `| ${f.records} | ${f.mb.toFixed(1)} | ${(f.records / f.ingestSeconds).toFixed(0)} | ${(f.mb / f.ingestSeconds).toFixed(2)} | ${(f.records / f.curateSeconds).toFixed(0)} | ${(f.mb / f.curateSeconds).toFixed(2)} | ${f.ingestIdle.toFixed(0)}, ${f.curateIdle.toFixed(0)} MiB | ${f.ingestPeak.toFixed(0)} MiB | ${f.curatePeak.toFixed(0)} MiB |`,
    );
  const small = all[0];
  console.log('');
  for (const large of all.slice(1))
    if (small !== undefined)
      console.log(
        `${large.records / small.records}x the records: peak curate RSS ${(large.curatePeak / small.curatePeak).toFixed(2)}x ` +
          `(${large.curatePeak >= small.curatePeak ? '+' : ''}${(large.curatePeak - small.curatePeak).toFixed(0)} MiB, ${(((large.curatePeak - small.curatePeak) * 1024 * 1024) / (large.records - small.records)).toFixed(0)} bytes per extra record), ` +
          `peak ingest RSS ${(large.ingestPeak / small.ingestPeak).toFixed(2)}x`,
      );
} finally {
  await db.close();
  await nats.close();
}
