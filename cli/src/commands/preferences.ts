import { readFileSync } from 'node:fs';
import { ChatRole } from '@lathe/contracts/lathe/common/v1/chat';
import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import type { Item } from '@lathe/contracts/lathe/preferences/v1/task';
import { createClient } from '@lathe/service-kit';
import type { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { PREFERENCES_ENDPOINT, connectionOf, parseServiceCommand } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary =
  'create annotation tasks, import items, read agreement and snapshot pairs on a running preferences service';

/** Every flag; printed by `lathe preferences --help`. */
export const usage = `usage: lathe preferences tasks create --name NAME [--k N] [--items FILE] [task flags]
       lathe preferences tasks import TASK --from DATASET@VERSION [import flags]
       lathe preferences agreement TASK
       lathe preferences snapshot TASK --dataset NAME [snapshot flags]
       lathe preferences eval-set NAME (--from DATASET@VERSION | --prompts FILE)

tasks create   creates a task (with the items of FILE, JSON Lines) and prints its id
tasks import   adds one item per preference record of a dataset version
agreement      prints Cohen's kappa per annotator pair, Fleiss' kappa, Krippendorff's alpha and
               gold accuracy
snapshot       turns the agreed pairs into a new version of preference dataset NAME
eval-set       registers an evaluation set: later items with one of its prompts are flagged

tasks create:
  --name NAME             display name
  --k N                   annotators per item (default 3)
  --instructions TEXT     shown to annotators
  --allow-tie             annotators may answer "tie"
  --require-rationale     every judgement needs a rationale
  --items FILE            JSON Lines, one item a line: {"id"?, "prompt": TEXT | [messages],
                          "candidates": [TEXT | [messages], ...], "gold"?: INDEX}
tasks import:
  --from DATASET@VERSION  the preference dataset version
  --split S               train or eval (default both)
  --max-items N           a seeded sample of N records (default all)
  --gold-fraction F       share of items made gold with the chosen response (default 0)
  --seed N                seed of the sample and the gold choice (default 0)
snapshot:
  --dataset NAME          preference dataset receiving the version (created when missing)
  --min-agreement F       keep pairs whose majority share is at least F, 0.5 to 1 (default 0.5)
  --min-judgements N      keep pairs with at least N judgements (default k)
  --include-gold          include gold items (their gold answer decides)
  --include-direct-pairs  include pairs posted with SubmitPairs
  --eval-fraction F       share of pairs in the eval split, 0 to 0.5 (default 0)
  --seed N                seed of the split (default 0)
  --description TEXT      the version's description
eval-set:
  --from DATASET@VERSION  the prompts of a dataset version's records
  --prompts FILE          JSON Lines, one prompt a line: TEXT or [messages]
connection:
  --preferences ADDR      service address (default $LATHE_PREFERENCES_ADDR, else 127.0.0.1:50062)
  --token TOKEN           bearer token: an admin secret, an annotator token or a JWT (default
                          $LATHE_PREFERENCES_TOKEN, else $LATHE_TOKEN)
  -h, --help              this help`;

type Client = ReturnType<typeof createClient<typeof PreferenceServiceService>>;

const ROLES: Readonly<Record<string, ChatRole>> = {
  system: ChatRole.CHAT_ROLE_SYSTEM,
  user: ChatRole.CHAT_ROLE_USER,
  assistant: ChatRole.CHAT_ROLE_ASSISTANT,
};

/** A text (one turn of `role`) or a list of `{role, content}` messages, from a file line. */
function messages(value: unknown, role: ChatRole, where: string): ChatMessage[] {
  if (typeof value === 'string') return [{ role, content: value }];
  if (!Array.isArray(value)) throw new Error(`${where} must be a string or a list of messages`);
  return value.map((m: unknown, i) => {
    const r = (m as { role?: unknown } | null)?.role;
    const content = (m as { content?: unknown } | null)?.content;
    const chatRole = typeof r === 'string' ? ROLES[r] : undefined;
    if (chatRole === undefined || typeof content !== 'string')
      throw new Error(`${where}[${i}] must be {"role": system|user|assistant, "content": TEXT}`);
    return { role: chatRole, content };
  });
}

function jsonLines(file: string): { line: number; value: unknown }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((text, i) => ({ line: i + 1, text: text.trim() }))
    .filter((l) => l.text !== '')
    .map(({ line, text }) => {
      try {
        return { line, value: JSON.parse(text) as unknown };
      } catch (err) {
        throw new Error(`${file} line ${line}: ${(err as Error).message}`, { cause: err });
      }
    });
}

/** Items of a JSON Lines file (see the usage). */
export function readItems(file: string): Item[] {
  return jsonLines(file).map(({ line, value }) => {
    const where = `${file} line ${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error(`${where}: an item must be a JSON object`);
    const v = value as Record<string, unknown>;
    const candidates = v['candidates'];
    if (!Array.isArray(candidates) || candidates.length < 2)
      throw new Error(`${where}: "candidates" must list at least two responses`);
    const gold = v['gold'];
    if (
      gold !== undefined &&
      (typeof gold !== 'number' || !Number.isInteger(gold) || gold < 0 || gold >= candidates.length)
    )
      throw new Error(`${where}: "gold" must be the index of a candidate`);
    const id = v['id'];
    if (id !== undefined && typeof id !== 'string')
      throw new Error(`${where}: "id" must be a string`);
    return {
      id: id ?? '',
      prompt: messages(v['prompt'], ChatRole.CHAT_ROLE_USER, `${where}: "prompt"`),
      candidates: candidates.map((c: unknown, j) => ({
        id: '',
        messages: messages(c, ChatRole.CHAT_ROLE_ASSISTANT, `${where}: candidates[${j}]`),
        source: '',
      })),
      // Candidates without an id get "a", "b", ... from the service, in order.
      gold:
        typeof gold === 'number'
          ? { preferredCandidateId: String.fromCharCode(97 + gold), explanation: '' }
          : undefined,
      metadata: {},
    };
  });
}

function versionRef(text: string): DatasetVersionRef {
  const m = /^([a-z][a-z0-9-]*)@(\d+)$/.exec(text);
  if (m === null) throw new Error(`"${text}" must be DATASET@VERSION`);
  return { dataset: m[1] ?? '', version: Number(m[2]), manifestSha256: '' };
}

function splitOf(args: CommandArgs): DatasetSplit {
  const split = args.string('split');
  if (split === undefined) return DatasetSplit.DATASET_SPLIT_UNSPECIFIED;
  if (split === 'train') return DatasetSplit.DATASET_SPLIT_TRAIN;
  if (split === 'eval') return DatasetSplit.DATASET_SPLIT_EVAL;
  throw new Error('--split must be train or eval');
}

/** Item batches as AddItems takes them (at most 1000 a call). */
const BATCH = 1000;

async function createTask(client: Client, args: CommandArgs): Promise<number> {
  const items = args.string('items') === undefined ? [] : readItems(args.required('items'));
  const { task } = await client.createTask({
    displayName: args.required('name'),
    instructions: args.string('instructions') ?? '',
    annotatorsPerItem: args.integer('k') ?? 3,
    assignmentLease: undefined,
    allowTie: args.flag('allow-tie'),
    requireRationale: args.flag('require-rationale'),
    items: items.slice(0, BATCH),
  });
  const id = task?.id ?? '';
  for (let at = BATCH; at < items.length; at += BATCH)
    await client.addItems({ taskId: id, items: items.slice(at, at + BATCH) });
  process.stdout.write(`task ${id}: ${items.length} items, k ${task?.annotatorsPerItem ?? 0}\n`);
  return 0;
}

async function importItems(client: Client, task: string, args: CommandArgs): Promise<number> {
  const from = versionRef(args.required('from'));
  const res = await client.importItemsFromDataset({
    taskId: task,
    datasetVersion: from,
    split: splitOf(args),
    maxItems: args.integer('max-items') ?? 0,
    goldFraction: args.number('gold-fraction') ?? 0,
    seed: args.integer('seed') ?? 0,
  });
  process.stdout.write(
    `task ${task}: imported ${res.importedCount} items (${res.goldCount} gold) from ${from.dataset}@${from.version}\n`,
  );
  return 0;
}

const fixed = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

async function agreement(client: Client, task: string): Promise<number> {
  const { agreement: a } = await client.getAgreement({ taskId: task });
  if (a === undefined) throw new Error('the service answered no agreement');
  process.stdout.write(
    `task ${task}: ${a.judgementCount} judgements; Fleiss' kappa ${fixed(a.fleissKappa)} over ${a.fleissItemCount} items; Krippendorff's alpha ${fixed(a.krippendorffAlpha)} over ${a.krippendorffItemCount} items\n`,
  );
  for (const c of a.cohen)
    process.stdout.write(
      `  Cohen's kappa ${c.annotatorAId} / ${c.annotatorBId}: ${fixed(c.kappa)} (observed ${fixed(c.observedAgreement)} over ${c.sharedCount} shared)\n`,
    );
  for (const g of a.goldAccuracy)
    process.stdout.write(
      `  gold accuracy ${g.annotatorId}: ${g.correctCount}/${g.judgedCount} = ${fixed(g.accuracy)}\n`,
    );
  return 0;
}

async function snapshot(client: Client, task: string, args: CommandArgs): Promise<number> {
  const minAgreement = args.number('min-agreement');
  const res = await client.snapshotToDataset({
    taskId: task,
    dataset: args.required('dataset'),
    ...(minAgreement === undefined ? {} : { minAgreement }),
    minJudgements: args.integer('min-judgements') ?? 0,
    includeGold: args.flag('include-gold'),
    includeDirectPairs: args.flag('include-direct-pairs'),
    evalFraction: args.number('eval-fraction') ?? 0,
    seed: args.integer('seed') ?? 0,
    description: args.string('description') ?? '',
  });
  const v = res.datasetVersion;
  process.stdout.write(
    `${v?.dataset ?? ''}@${v?.version ?? 0} sha256:${v?.manifestSha256 ?? ''}: ${res.pairCount} pairs, ${res.excludedCount} excluded\n`,
  );
  return 0;
}

async function evalSet(client: Client, name: string, args: CommandArgs): Promise<number> {
  const from = args.string('from');
  const file = args.string('prompts');
  if (from === undefined && file === undefined)
    throw new Error('eval-set needs --from DATASET@VERSION or --prompts FILE');
  const prompts =
    file === undefined
      ? []
      : jsonLines(file).map(({ line, value }) => ({
          messages: messages(value, ChatRole.CHAT_ROLE_USER, `${file} line ${line}`),
        }));
  const res = await client.registerEvaluationSet({
    name,
    prompts,
    datasetVersion: from === undefined ? undefined : versionRef(from),
    split: splitOf(args),
  });
  process.stdout.write(
    `evaluation set ${name}: ${res.registeredCount} prompts registered, ${res.alreadyRegisteredCount} already registered\n`,
  );
  return 0;
}

const SHAPES = [
  ['tasks', 'create'],
  ['tasks', 'import', '*'],
  ['agreement', '*'],
  ['snapshot', '*'],
  ['eval-set', '*'],
];

/**
 * `lathe preferences tasks create|import, agreement, snapshot, eval-set`.
 *
 * @returns 0 done, 1 refused by the service or unreachable, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseServiceCommand(
    PREFERENCES_ENDPOINT,
    'preferences',
    usage,
    argv,
    {
      name: 'string',
      k: 'string',
      instructions: 'string',
      'allow-tie': 'boolean',
      'require-rationale': 'boolean',
      items: 'string',
      from: 'string',
      split: 'string',
      'max-items': 'string',
      'gold-fraction': 'string',
      seed: 'string',
      dataset: 'string',
      'min-agreement': 'string',
      'min-judgements': 'string',
      'include-gold': 'boolean',
      'include-direct-pairs': 'boolean',
      'eval-fraction': 'string',
      description: 'string',
      prompts: 'string',
    },
    (words) => {
      const fits = SHAPES.some(
        (shape) =>
          shape.length === words.length && shape.every((w, i) => w === '*' || w === words[i]),
      );
      if (!fits)
        throw new Error(
          'expected: lathe preferences tasks create | tasks import TASK | agreement TASK | snapshot TASK | eval-set NAME',
        );
    },
  );
  if (typeof parsed === 'number') return parsed;
  const { words, args } = parsed;
  const { address, token } = connectionOf(PREFERENCES_ENDPOINT, args);
  const client = createClient(PreferenceServiceService, address, {
    idempotent: ['getAgreement', 'getTask'],
    deadlineMs: 600_000,
    ...(token === undefined ? {} : { token }),
  });
  try {
    const [verb, second = '', third = ''] = words;
    if (verb === 'tasks' && second === 'create') return await createTask(client, args);
    if (verb === 'tasks') return await importItems(client, third, args);
    if (verb === 'agreement') return await agreement(client, second);
    if (verb === 'snapshot') return await snapshot(client, second, args);
    return await evalSet(client, second, args);
  } catch (err) {
    return reportFailure(err);
  } finally {
    client.close();
  }
}
