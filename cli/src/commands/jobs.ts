import { credentials } from '@grpc/grpc-js';
import { AttemptOutcome, type Job, JobState } from '@lathe/contracts/lathe/training/v1/job';
import { Device, JobSpec, LrSchedule, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import {
  TrainingServiceClient,
  TrainingServiceService,
} from '@lathe/contracts/lathe/training/v1/training_service';
import { createClient, type LatheClient } from '@lathe/service-kit';
import { followJob } from '@lathe/training/client';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';
import { JobEventRenderer, stateText, type JobsOutput } from './jobs-render.js';
import { parseModelRef } from './registry-connection.js';
import { splitPositionals } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary =
  'create, watch, list and cancel fine-tuning jobs on a running training service';

/** Every flag; printed by `lathe jobs --help`. */
export const usage = `usage: lathe jobs create --method M --model NAME@ALIAS|NAME@VERSION --dataset NAME@VERSION [flags] [--watch]
       lathe jobs watch ID [--after N]
       lathe jobs list [--state S] [--method M] [--model NAME] [--dataset NAME] [--labels K=V,...] [--creator SUB]
       lathe jobs show ID
       lathe jobs cancel ID [--reason TEXT]

create   checks and queues a job (the service lists every bad field); prints its id, or with
         --watch follows it to the end (exit 0 succeeded, 1 failed or cancelled)
watch    follows a job's events from the start (or after sequence N): a progress bar with loss,
         eval loss and ETA on a terminal, one line per event otherwise; reconnects with the last
         sequence when the service restarts
list     newest first, 50 per page (--limit, --page-token)
cancel   a queued job ends at once, a running one at its trainer's next step

create:
  --method M            full, lora, qlora or dpo (required)
  --model REF           base model NAME@ALIAS or NAME@VERSION (required)
  --dataset NAME@V      dataset version (V 0 or "latest": the newest) (required)
  --name TEXT           display name
  --labels K=V,...      labels
  --output NAME         registry name of the result (default <base>-<method>)
  --output-alias A      alias to move to the result
  --device D            cpu or cuda (default cpu)
  --idempotency-key K   a retry with the same key returns the first job
  --lr X                learning rate (default 2e-4; 2e-5 for full)
  --epochs X | --max-steps N   length (default 1 epoch)
  --batch-size N        sequences per micro-batch (default 8)
  --grad-accum N        micro-batches per step (default 1)
  --seq-len N           tokens per sequence (default 512)
  --warmup-steps N | --warmup-ratio X
  --schedule S          constant, linear or cosine (default cosine)
  --weight-decay X      (default 0)     --max-grad-norm X  (default 1.0; 0 disables)
  --seed N              (default 0)
  --checkpoint-every N  steps between checkpoints (default 0: only at the end)
  --eval-every N        steps between evaluations (default 0: only at the end)
  --lora-r N  --lora-alpha X  --lora-dropout X  --lora-targets q_proj,v_proj,...   (defaults 8, 16, 0.05, q/k/v/o)
  --dpo-beta X          (default 0.1)   --block-size N  QLoRA NF4 block (default 64)
output:
  --json                JSON (one object; watch: one event per line)
  --after N             watch: start after sequence N
  --reason TEXT         cancel: why
  --state S, --method M, --model NAME, --dataset NAME, --labels, --creator SUB, --limit N,
  --page-token T        list filters and paging
connection:
  --training ADDR       service address (default $LATHE_TRAINING_ADDR, else 127.0.0.1:50064)
  --token JWT           bearer token (default $LATHE_TOKEN; none when unset)
  -h, --help            this help`;

const METHODS: Readonly<Record<string, Method>> = {
  full: Method.METHOD_FULL,
  lora: Method.METHOD_LORA,
  qlora: Method.METHOD_QLORA,
  dpo: Method.METHOD_DPO,
};
const SCHEDULES: Readonly<Record<string, LrSchedule>> = {
  constant: LrSchedule.LR_SCHEDULE_CONSTANT,
  linear: LrSchedule.LR_SCHEDULE_LINEAR,
  cosine: LrSchedule.LR_SCHEDULE_COSINE,
};

const FLAGS = {
  method: 'string',
  model: 'string',
  dataset: 'string',
  name: 'string',
  labels: 'string',
  output: 'string',
  'output-alias': 'string',
  device: 'string',
  'idempotency-key': 'string',
  lr: 'string',
  epochs: 'string',
  'max-steps': 'string',
  'batch-size': 'string',
  'grad-accum': 'string',
  'seq-len': 'string',
  'warmup-steps': 'string',
  'warmup-ratio': 'string',
  schedule: 'string',
  'weight-decay': 'string',
  'max-grad-norm': 'string',
  seed: 'string',
  'checkpoint-every': 'string',
  'eval-every': 'string',
  'lora-r': 'string',
  'lora-alpha': 'string',
  'lora-dropout': 'string',
  'lora-targets': 'string',
  'dpo-beta': 'string',
  'block-size': 'string',
  watch: 'boolean',
  json: 'boolean',
  after: 'string',
  reason: 'string',
  state: 'string',
  limit: 'string',
  'page-token': 'string',
  creator: 'string',
  training: 'string',
  token: 'string',
} as const;

function oneOf<T>(flag: string, table: Readonly<Record<string, T>>, value: string): T {
  const found = table[value];
  if (found === undefined)
    throw new UsageError(
      `--${flag} must be one of ${Object.keys(table).join(', ')}, got "${value}"`,
    );
  return found;
}

/** `k=v,k2=v2` as a map. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined || text === '') return labels;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--labels takes K=V,...; got "${pair}"`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/**
 * The JobSpec `lathe jobs create` sends: only what the flags say (the service applies and
 * documents the defaults, and checks every range).
 */
export function jobSpecFromFlags(args: CommandArgs): JobSpec {
  const method = oneOf('method', METHODS, args.required('method'));
  const dataset = args.required('dataset');
  const at = dataset.lastIndexOf('@');
  if (at <= 0) throw new UsageError(`--dataset must be NAME@VERSION, got "${dataset}"`);
  const versionText = dataset.slice(at + 1);
  if (!/^(\d+|latest)$/.test(versionText))
    throw new UsageError(`--dataset version must be a number or "latest", got "${versionText}"`);
  let baseModel;
  try {
    baseModel = parseModelRef(args.required('model'));
  } catch (err) {
    throw new UsageError(`--model: ${(err as Error).message}`);
  }
  const epochs = args.number('epochs');
  const maxSteps = args.integer('max-steps');
  if (epochs !== undefined && maxSteps !== undefined)
    throw new UsageError('give --epochs or --max-steps, not both');
  const warmupSteps = args.integer('warmup-steps');
  const warmupRatio = args.number('warmup-ratio');
  if (warmupSteps !== undefined && warmupRatio !== undefined)
    throw new UsageError('give --warmup-steps or --warmup-ratio, not both');
  const schedule = args.string('schedule');
  const targets = args.string('lora-targets');
  const adapter = method !== Method.METHOD_FULL;
  const device = args.string('device');
  const loraGiven = ['lora-r', 'lora-alpha', 'lora-dropout', 'lora-targets'].some(
    (f) => args.string(f) !== undefined,
  );
  return JobSpec.fromPartial({
    method,
    baseModel,
    dataset: {
      dataset: dataset.slice(0, at),
      version: versionText === 'latest' ? 0 : Number(versionText),
    },
    hyperparameters: {
      learningRate: args.number('lr'),
      ...(epochs !== undefined ? { length: { $case: 'epochs', epochs } } : {}),
      ...(maxSteps !== undefined ? { length: { $case: 'maxSteps', maxSteps } } : {}),
      batchSize: args.integer('batch-size'),
      gradientAccumulationSteps: args.integer('grad-accum'),
      maxSeqLength: args.integer('seq-len'),
      ...(warmupSteps !== undefined ? { warmup: { $case: 'warmupSteps', warmupSteps } } : {}),
      ...(warmupRatio !== undefined ? { warmup: { $case: 'warmupRatio', warmupRatio } } : {}),
      schedule:
        schedule === undefined
          ? LrSchedule.LR_SCHEDULE_UNSPECIFIED
          : oneOf('schedule', SCHEDULES, schedule),
      weightDecay: args.number('weight-decay') ?? 0,
      maxGradNorm: args.number('max-grad-norm'),
      seed: args.integer('seed') ?? 0,
      checkpointEverySteps: args.integer('checkpoint-every') ?? 0,
      evalEverySteps: args.integer('eval-every') ?? 0,
    },
    ...(adapter || loraGiven
      ? {
          lora: {
            r: args.integer('lora-r'),
            alpha: args.number('lora-alpha'),
            dropout: args.number('lora-dropout'),
            targetModules: targets === undefined ? [] : targets.split(',').map((t) => t.trim()),
          },
        }
      : {}),
    ...(args.string('block-size') !== undefined
      ? { qlora: { blockSize: args.integer('block-size') } }
      : {}),
    ...(args.string('dpo-beta') !== undefined ? { dpo: { beta: args.number('dpo-beta') } } : {}),
    resources: {
      device:
        device === undefined
          ? Device.DEVICE_UNSPECIFIED
          : oneOf('device', { cpu: Device.DEVICE_CPU, cuda: Device.DEVICE_CUDA }, device),
    },
    outputName: args.string('output') ?? '',
    outputAlias: args.string('output-alias') ?? '',
  });
}

function jobLine(job: Job): string {
  const spec = job.spec;
  const base = job.resolvedBaseModel;
  const data = job.resolvedDataset;
  const p = job.progress;
  return [
    job.id,
    stateText(job.state),
    (Method[spec?.method ?? 0] ?? '').replace('METHOD_', '').toLowerCase(),
    `${base?.name ?? '?'}@${String(base?.version ?? 0)}`,
    `${data?.dataset ?? '?'}@${String(data?.version ?? 0)}`,
    p === undefined
      ? ''
      : `step ${String(p.step)}/${String(p.totalSteps)} loss ${p.loss.toFixed(4)}`,
    job.failure === undefined ? '' : `${job.failure.reason}: ${job.failure.message}`,
    job.displayName,
  ]
    .filter((s) => s !== '')
    .join('  ');
}

interface Connection {
  readonly unary: LatheClient<typeof TrainingServiceService>;
  readonly stream: TrainingServiceClient;
  readonly token: string | undefined;
}

async function watch(c: Connection, jobId: string, args: CommandArgs): Promise<number> {
  const mode: JobsOutput = args.flag('json') ? 'json' : process.stderr.isTTY ? 'bar' : 'lines';
  const renderer = new JobEventRenderer(mode, process.stdout, process.stderr);
  const stop = new AbortController();
  const interrupt = (): void => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    for await (const event of followJob(c.stream, jobId, {
      afterSequence: args.integer('after') ?? 0,
      signal: stop.signal,
      ...(c.token === undefined ? {} : { token: c.token }),
      onReconnect: (error, after) =>
        renderer.note(
          `connection lost (${error.message.split('\n')[0] ?? ''}); reconnecting after #${String(after)}`,
        ),
    }))
      renderer.render(event);
  } finally {
    process.removeListener('SIGINT', interrupt);
    renderer.finish();
  }
  if (stop.signal.aborted) return 130;
  let state = renderer.state;
  if (args.integer('after') !== undefined || state === JobState.JOB_STATE_UNSPECIFIED)
    state = (await c.unary.getJob({ jobId })).job?.state ?? state;
  return state === JobState.JOB_STATE_SUCCEEDED ? 0 : 1;
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

async function dispatch(
  c: Connection,
  verb: string,
  target: string,
  args: CommandArgs,
): Promise<number> {
  const json = args.flag('json');
  switch (verb) {
    case 'create': {
      const spec = jobSpecFromFlags(args);
      const { job } = await c.unary.createJob({
        spec,
        displayName: args.string('name') ?? '',
        labels: parseLabels(args.string('labels')),
        idempotencyKey: args.string('idempotency-key') ?? '',
      });
      if (job === undefined) throw new Error('the service returned no job');
      if (!args.flag('watch') || !json)
        print(
          json,
          { job: job.id, state: stateText(job.state), traceId: job.traceId },
          `${job.id} ${stateText(job.state)} (trace ${job.traceId === '' ? 'none' : job.traceId})`,
        );
      return args.flag('watch') ? watch(c, job.id, args) : 0;
    }
    case 'watch':
      return watch(c, target, args);
    case 'show': {
      const { job } = await c.unary.getJob({ jobId: target });
      if (job === undefined) throw new Error('the service returned no job');
      const { attempts } = await c.unary.listJobAttempts({ jobId: target });
      if (json)
        print(
          true,
          {
            job: job.id,
            state: stateText(job.state),
            attempts: attempts.length,
            lastSequence: job.lastSequence,
            traceId: job.traceId,
          },
          '',
        );
      else {
        print(false, null, jobLine(job));
        for (const a of attempts)
          print(
            false,
            null,
            `  attempt ${String(a.number)} on ${a.workerId}: ${(AttemptOutcome[a.outcome] ?? String(a.outcome)).replace('ATTEMPT_OUTCOME_', '').toLowerCase()} from step ${String(a.resumedFromStep)} to ${String(a.lastStep)}${a.failureMessage === '' ? '' : ` (${a.failureMessage})`}`,
          );
      }
      return 0;
    }
    case 'cancel': {
      const { job } = await c.unary.cancelJob({
        jobId: target,
        reason: args.string('reason') ?? '',
      });
      print(
        json,
        { job: job?.id, state: stateText(job?.state ?? 0) },
        `${target} ${stateText(job?.state ?? 0)}`,
      );
      return 0;
    }
    default: {
      const state = args.string('state');
      const method = args.string('method');
      const stateValue =
        state === undefined
          ? undefined
          : (JobState as unknown as Record<string, number>)[`JOB_STATE_${state.toUpperCase()}`];
      if (state !== undefined && stateValue === undefined)
        throw new UsageError(
          `--state must be a job state (queued, running, succeeded, ...), got "${state}"`,
        );
      const r = await c.unary.listJobs({
        states: stateValue === undefined ? [] : [stateValue],
        methods: method === undefined ? [] : [oneOf('method', METHODS, method)],
        baseModel: args.string('model') ?? '',
        dataset: args.string('dataset') ?? '',
        labels: parseLabels(args.string('labels')),
        createdAfter: undefined,
        createdBefore: undefined,
        creator: args.string('creator') ?? '',
        page: { pageSize: args.integer('limit') ?? 0, pageToken: args.string('page-token') ?? '' },
      });
      const next = r.page?.nextPageToken ?? '';
      if (json)
        print(
          true,
          {
            jobs: r.jobs.map((j) => ({
              id: j.id,
              state: stateText(j.state),
              createTime: j.createTime,
              displayName: j.displayName,
            })),
            nextPageToken: next,
          },
          '',
        );
      else {
        for (const j of r.jobs) print(false, null, jobLine(j));
        if (next !== '') print(false, null, `(more: --page-token ${next})`);
      }
      return 0;
    }
  }
}

/**
 * `lathe jobs create|watch|list|show|cancel`.
 *
 * @returns 0 done (watch: the job succeeded), 1 refused, unreachable, or the job failed or was
 *   cancelled, 2 a usage error, 130 interrupted
 */
export async function run(argv: string[]): Promise<number> {
  const { words, flags } = splitPositionals(argv);
  let args: CommandArgs | 'help';
  const [verb = '', target = ''] = words;
  try {
    args = CommandArgs.parse(flags, FLAGS);
    const needsId = ['watch', 'show', 'cancel'].includes(verb);
    if (
      args !== 'help' &&
      (!['create', 'watch', 'list', 'show', 'cancel'].includes(verb) ||
        words.length !== (needsId ? 2 : 1))
    )
      throw new UsageError('expected: lathe jobs create | watch ID | list | show ID | cancel ID');
    if (args !== 'help' && verb === 'create') jobSpecFromFlags(args);
  } catch (err) {
    process.stderr.write(`lathe jobs: ${(err as Error).message}\n(see lathe jobs --help)\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const address =
    args.string('training') ?? process.env['LATHE_TRAINING_ADDR'] ?? '127.0.0.1:50064';
  const tokenText = args.string('token') ?? process.env['LATHE_TOKEN'];
  const token = tokenText === undefined || tokenText === '' ? undefined : tokenText;
  const unary = createClient(TrainingServiceService, address, {
    idempotent: ['getJob', 'listJobs', 'listCheckpoints', 'listJobAttempts'],
    deadlineMs: 60_000,
    ...(token === undefined ? {} : { token }),
  });
  const stream = new TrainingServiceClient(address, credentials.createInsecure());
  try {
    return await dispatch({ unary, stream, token }, verb, target, args);
  } catch (err) {
    return reportFailure(err);
  } finally {
    unary.close();
    stream.close();
  }
}
