import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { status } from '@grpc/grpc-js';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { PiiAction, RemovalReason } from '@lathe/contracts/lathe/datasets/v1/curation';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CurateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { DatasetStats } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { DatasetsStreamClient } from '@lathe/datasets';
import { createClient, isLatheError } from '@lathe/service-kit';
import type { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { DATASETS_ENDPOINT, connectionOf, parseServiceCommand } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary = 'upload, curate and inspect datasets on a running datasets service';

const FORMATS: Readonly<Record<string, RecordFormat>> = {
  auto: RecordFormat.RECORD_FORMAT_AUTO,
  chat: RecordFormat.RECORD_FORMAT_CHAT,
  alpaca: RecordFormat.RECORD_FORMAT_ALPACA,
  sharegpt: RecordFormat.RECORD_FORMAT_SHAREGPT,
  text: RecordFormat.RECORD_FORMAT_TEXT,
  'preference-pairs': RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
  'hh-rlhf': RecordFormat.RECORD_FORMAT_HH_RLHF,
  'sharegpt-pairs': RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS,
  'stack-exchange': RecordFormat.RECORD_FORMAT_STACK_EXCHANGE,
};
const PREFERENCE_FORMATS = new Set([
  'preference-pairs',
  'hh-rlhf',
  'sharegpt-pairs',
  'stack-exchange',
]);

/** Every flag; printed by `lathe datasets --help`. */
export const usage = `usage: lathe datasets upload FILE --name NAME [--format F] [--kind sft|preference]
       lathe datasets curate NAME [recipe flags]
       lathe datasets show NAME[@VERSION] [--records N]

upload   streams a JSONL file into dataset NAME (created when missing), prints the counts and
         every rejected line with its number and reason
curate   turns the staged uploads into a new immutable version, prints its digest and removals
show     prints a dataset, one version (default the latest) with its statistics, and optionally
         its first N records

upload:
  --format F          ${Object.keys(FORMATS).join(', ')} (default auto)
  --kind K            kind of a dataset created here: sft or preference (default from --format, else sft)
curate:
  --dedupe            remove exact duplicates
  --near-dup J        remove near-duplicates at estimated Jaccard >= J (MinHash)
  --shingle N         words per shingle for --near-dup (default 5)
  --drop-empty        remove records with an empty turn
  --junk              remove records with junk runs (contract defaults)
  --pii ACTION        redact or drop e-mail addresses and phone numbers
  --eval-fraction F   share of records in the eval split, 0 to 0.5 (default 0)
  --seed N            seed of the split and of MinHash (default 0)
  --base-version V    include a version's records first
connection:
  --datasets ADDR     service address (default $LATHE_DATASETS_ADDR, else 127.0.0.1:50061)
  --token JWT         bearer token (default $LATHE_TOKEN; none when unset)
  -h, --help          this help`;

type Unary = ReturnType<typeof createClient<typeof DatasetServiceService>>;

function statsLines(stats: DatasetStats | undefined): string[] {
  if (stats === undefined) return [];
  const lines = [`considered ${stats.inputCount}, redacted ${stats.redactedCount}`];
  for (const s of stats.splits) {
    const c = s.characters;
    const t = s.turns;
    lines.push(
      `  ${s.split === DatasetSplit.DATASET_SPLIT_EVAL ? 'eval ' : 'train'} ${s.recordCount} records; characters min ${c?.min ?? 0} p50 ${c?.p50 ?? 0} p95 ${c?.p95 ?? 0} max ${c?.max ?? 0}; turns mean ${(t?.mean ?? 0).toFixed(2)}`,
    );
    const roles = Object.entries(s.roleCounts).map(([role, n]) => `${role} ${n}`);
    if (roles.length > 0) lines.push(`    turns per role: ${roles.join(', ')}`);
    const buckets = s.characterHistogram
      .filter((b) => b.count > 0)
      .map((b) => `${b.maxLength === 0 ? `>${b.minLength - 1}` : `<=${b.maxLength}`}: ${b.count}`);
    if (buckets.length > 0) lines.push(`    characters histogram: ${buckets.join(', ')}`);
  }
  for (const r of stats.removals)
    lines.push(
      `  removed ${r.count} (${(RemovalReason[r.reason] ?? String(r.reason)).replace('REMOVAL_REASON_', '').toLowerCase()})`,
    );
  return lines;
}

async function upload(
  unary: Unary,
  stream: DatasetsStreamClient,
  file: string,
  args: CommandArgs,
): Promise<number> {
  const name = args.required('name');
  const formatName = args.string('format') ?? 'auto';
  const format = FORMATS[formatName];
  if (format === undefined)
    throw new Error(`--format must be one of ${Object.keys(FORMATS).join(', ')}`);
  const kindName =
    args.string('kind') ?? (PREFERENCE_FORMATS.has(formatName) ? 'preference' : 'sft');
  if (kindName !== 'sft' && kindName !== 'preference')
    throw new Error('--kind must be sft or preference');
  try {
    await unary.getDataset({ name });
  } catch (err) {
    if (!isLatheError(err) || err.code !== status.NOT_FOUND) throw err;
    const kind =
      kindName === 'sft' ? DatasetKind.DATASET_KIND_SFT : DatasetKind.DATASET_KIND_PREFERENCE;
    await unary.createDataset({ name, kind, description: '', labels: {} });
    process.stdout.write(`created dataset ${name} (${kindName})\n`);
  }
  const res = await stream.uploadStream(
    { dataset: name, format, sourceName: basename(file) },
    createReadStream(file, { highWaterMark: 1 << 20 }),
  );
  const u = res.upload;
  process.stdout.write(
    `upload ${u?.id ?? ''}: ${u?.acceptedCount ?? 0} accepted, ${u?.rejectedCount ?? 0} rejected, format ${(RecordFormat[u?.detectedFormat ?? 0] ?? '').replace('RECORD_FORMAT_', '').toLowerCase()}\n`,
  );
  for (const r of res.rejected) process.stdout.write(`  line ${r.lineNumber}: ${r.reason}\n`);
  if (res.rejectedTruncated) process.stdout.write('  (more rejected lines not listed)\n');
  return 0;
}

async function curate(unary: Unary, name: string, args: CommandArgs): Promise<number> {
  const near = args.number('near-dup');
  const pii = args.string('pii');
  if (pii !== undefined && pii !== 'redact' && pii !== 'drop')
    throw new Error('--pii must be redact or drop');
  const seed = args.integer('seed') ?? 0;
  const res = await unary.curateDataset(
    CurateDatasetRequest.fromPartial({
      dataset: name,
      baseVersion: args.integer('base-version') ?? 0,
      spec: {
        dedupeExact: args.flag('dedupe'),
        dropEmptyTurns: args.flag('drop-empty'),
        ...(near === undefined
          ? {}
          : {
              nearDuplicates: {
                jaccardThreshold: near,
                shingleSize: args.integer('shingle') ?? 5,
                seed,
              },
            }),
        ...(args.flag('junk') ? { junk: {} } : {}),
        ...(pii === undefined
          ? {}
          : {
              pii: {
                action: pii === 'redact' ? PiiAction.PII_ACTION_REDACT : PiiAction.PII_ACTION_DROP,
                kinds: [],
              },
            }),
        split: { evalFraction: args.number('eval-fraction') ?? 0, seed },
      },
    }),
  );
  const v = res.version;
  process.stdout.write(
    `${name}@${v?.ref?.version ?? 0} sha256:${v?.ref?.manifestSha256 ?? ''}: train ${v?.trainCount ?? 0}, eval ${v?.evalCount ?? 0}, removed ${v?.removedCount ?? 0}\n`,
  );
  for (const line of statsLines(res.stats)) process.stdout.write(`${line}\n`);
  return 0;
}

async function show(
  unary: Unary,
  stream: DatasetsStreamClient,
  target: string,
  args: CommandArgs,
): Promise<number> {
  const at = target.lastIndexOf('@');
  const name = at < 0 ? target : target.slice(0, at);
  const versionText = at < 0 ? '0' : target.slice(at + 1);
  if (!/^\d+$/.test(versionText)) throw new Error(`"${target}" must be NAME or NAME@VERSION`);
  const { dataset } = await unary.getDataset({ name });
  process.stdout.write(
    `${name}: ${(DatasetKind[dataset?.kind ?? 0] ?? '').replace('DATASET_KIND_', '').toLowerCase()}, latest version ${dataset?.latestVersion ?? 0}, ${dataset?.stagedRecordCount ?? 0} records staged\n`,
  );
  if ((dataset?.latestVersion ?? 0) === 0) return 0;
  const { version } = await unary.getDatasetVersion({
    dataset: name,
    version: Number(versionText),
  });
  const { stats } = await unary.getDatasetStats({
    dataset: name,
    version: version?.ref?.version ?? 0,
  });
  process.stdout.write(
    `${name}@${version?.ref?.version ?? 0} sha256:${version?.ref?.manifestSha256 ?? ''}: train ${version?.trainCount ?? 0}, eval ${version?.evalCount ?? 0}, removed ${version?.removedCount ?? 0}\n`,
  );
  for (const line of statsLines(stats)) process.stdout.write(`${line}\n`);
  const n = args.integer('records') ?? 0;
  if (n > 0)
    for (const batch of await stream.readRecords({ version: version?.ref, limit: n }))
      for (const r of batch.records) process.stdout.write(`${JSON.stringify(r.content)}\n`);
  return 0;
}

/**
 * `lathe datasets upload|curate|show`.
 *
 * @returns 0 done, 1 refused by the service or unreachable, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseServiceCommand(
    DATASETS_ENDPOINT,
    'datasets',
    usage,
    argv,
    {
      name: 'string',
      format: 'string',
      kind: 'string',
      dedupe: 'boolean',
      'near-dup': 'string',
      shingle: 'string',
      'drop-empty': 'boolean',
      junk: 'boolean',
      pii: 'string',
      'eval-fraction': 'string',
      seed: 'string',
      'base-version': 'string',
      records: 'string',
    },
    (words) => {
      if (words.length !== 2 || !['upload', 'curate', 'show'].includes(words[0] ?? ''))
        throw new Error('expected: lathe datasets upload FILE | curate NAME | show NAME[@VERSION]');
    },
  );
  if (typeof parsed === 'number') return parsed;
  const { words, args } = parsed;
  const { address, token } = connectionOf(DATASETS_ENDPOINT, args);
  const unary = createClient(DatasetServiceService, address, {
    idempotent: ['getDataset', 'getDatasetVersion', 'getDatasetStats'],
    deadlineMs: 600_000,
    ...(token === undefined ? {} : { token }),
  });
  const stream = new DatasetsStreamClient(address, token);
  try {
    const [verb, target = ''] = words;
    if (verb === 'upload') return await upload(unary, stream, target, args);
    if (verb === 'curate') return await curate(unary, target, args);
    return await show(unary, stream, target, args);
  } catch (err) {
    return reportFailure(err);
  } finally {
    unary.close();
    stream.close();
  }
}
