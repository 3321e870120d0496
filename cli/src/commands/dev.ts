import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, statSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandArgs } from '../command-args.js';
import { downloadHubModel, isHubModelId } from '../dev/hub-download.js';
import {
  findRepoRoot,
  startLocalMesh,
  type LocalMesh,
  type MeshTraces,
} from '../dev/local-mesh.js';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { downloadToDir } from '@lathe/registry';
import {
  collectPreferences,
  describeJobEvent,
  generateTexts,
  importBaseModel,
  meshClients,
  newRunTrace,
  promptsOf,
  runTrainingJob,
  stepError,
  uploadAndCurate,
} from '../dev/main-job.js';
import type { DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';

/** One line for `lathe --help`. */
export const summary =
  'start the whole mesh locally and run the main job: import, curate, collect preferences, LoRA, sample';

/** Every flag with its default; printed by `lathe dev --help`. */
export const usage = `usage: lathe dev [flags]

Starts the five services (datasets, preferences, quantization, training, registry) as their own
processes on 127.0.0.1 (embedded defaults: PGlite databases, in-process event buses, a local
artifact folder, all under --work), then runs the main job through their gRPC APIs:
  1. imports the base model into the registry (ImportModel stream),
  2. uploads the SFT data to the datasets service and curates it into a version,
  3. collects preference judgements through the preferences service: a task whose items are the
     first --items prompts of the data with two candidates each written by the base model
     (two samplings), annotators created by the admin with their own tokens, judged by
     --annotators SCRIPTED annotators (a stated rule: the larger share of distinct words wins;
     not people) or, with --annotate, by you on the web page; then a snapshot to a DPO dataset,
  4. a LoRA training job on the SFT dataset version (and --qlora, --dpo jobs: QLoRA on the
     SFT data, DPO on the preference snapshot), the adapter registered by the trainer,
  5. a greedy sample generated with the LoRA adapter downloaded from the registry,
and prints where everything is (ports, the annotators' web page, the state folder, the
registered versions, the run's trace id, which every call carries). A second run reuses what the
first made and says so: the registry returns the same model version for the same files, the
dataset and preference versions are found by the digests of their inputs, and the same job spec
returns the first (succeeded) job. Service logs go to --work/mesh/logs.

Training goes through the training service's jobs API (CreateJob, then WatchJob for the progress
display); its trainer runs in the training service's process here (one PGlite database and one
in-process bus), registers the adapter in the registry, and this command downloads it from there.
The preferences service runs with token checks (a JWT secret and a bootstrap admin secret made
for the session): annotators are told apart by the tokens this command issues them.

options (default in brackets):
  --model DIR|ID       Hugging Face model folder, or a Hub model id (owner/name) downloaded
                       through the Hub's HTTP API into --work/hub (HF_ENDPOINT, HF_TOKEN)
                       [$LATHE_SHARED_DIR/models/stories260K, where LATHE_SHARED_DIR defaults to
                       the folder 'shared' beside the checkout]
  --data FILE          SFT data, JSONL or a JSON array [$LATHE_SHARED_DIR/data/sft/alpaca_tiny.json]
  --work DIR           run outputs and the services' state (PGlite databases, artifacts) [.lathe/dev]
  --max-steps N        optimizer steps of each job [60]
  --qlora              also a QLoRA job (NF4 base from the quantization service) [off]
  --dpo                also a DPO job on the preference snapshot [off]
  --direct             train LoRA with the compute engine in this process instead of a job
                       (no training service involved) [jobs]
  --prompt TEXT        prompt of the sample [Once upon a time]
  --max-new-tokens N   length of the sample [64]
  --items N            preference items (prompts) [4]
  --annotators N       scripted annotators, each judging every item [2]
  --annotate           people judge instead: prints the web page's URL and an annotator token,
                       and waits until every item is judged [scripted]
  --traces EXPORTER    span export of every service: off, console, otlp, or file:PATH (JSON
                       lines, see libs/telemetry) [otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set,
                       else off]
  --port-base N        port of the first service; the others follow [50061]
  --web-port N         port of the annotators' web page [8062]
  --fresh              with --direct: train again even if --work holds the adapter of the same
                       inputs [reuse]
  --keep-running       leave the mesh up after the job until Ctrl-C [stop after the job]
  --no-job             only start the mesh (implies --keep-running)
  -h, --help           this help`;

const FLAGS = {
  model: 'string',
  data: 'string',
  work: 'string',
  'max-steps': 'string',
  prompt: 'string',
  'max-new-tokens': 'string',
  items: 'string',
  annotators: 'string',
  annotate: 'boolean',
  qlora: 'boolean',
  dpo: 'boolean',
  direct: 'boolean',
  traces: 'string',
  'port-base': 'string',
  'web-port': 'string',
  fresh: 'boolean',
  'keep-running': 'boolean',
  'no-job': 'boolean',
} as const;

/** The numeric flags, parsed up front so a malformed one is a usage error. */
interface JobNumbers {
  readonly basePort: number;
  readonly webPort: number;
  readonly maxSteps: number;
  readonly maxNewTokens: number;
  readonly items: number;
  readonly annotators: number;
}

function positive(value: number | undefined, flag: string, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (v < min) throw new UsageError(`--${flag} must be at least ${String(min)}`);
  return v;
}

function parseNumbers(args: CommandArgs): JobNumbers {
  return {
    basePort: positive(args.integer('port-base'), 'port-base', 50061),
    webPort: positive(args.integer('web-port'), 'web-port', 8062, 0),
    maxSteps: positive(args.integer('max-steps'), 'max-steps', 60),
    maxNewTokens: positive(args.integer('max-new-tokens'), 'max-new-tokens', 64),
    items: positive(args.integer('items'), 'items', 4),
    annotators: positive(args.integer('annotators'), 'annotators', 2),
  };
}

/** `--traces` (or the OTLP endpoint variable) as the mesh's span export; undefined: off. */
export function parseTraces(
  value: string | undefined,
  env: NodeJS.ProcessEnv,
): MeshTraces | undefined {
  const choice = value ?? (env['OTEL_EXPORTER_OTLP_ENDPOINT'] === undefined ? 'off' : 'otlp');
  if (choice === 'off') return undefined;
  if (choice === 'console' || choice === 'otlp') return { exporter: choice };
  if (choice.startsWith('file:') && choice.length > 'file:'.length)
    return { exporter: 'file', file: resolve(choice.slice('file:'.length)) };
  throw new UsageError('--traces must be off, console, otlp or file:PATH');
}

/** `lathe dev`: see {@link usage}. */
export async function run(argv: string[]): Promise<number> {
  let args: CommandArgs | 'help';
  let numbers: JobNumbers;
  let traces: MeshTraces | undefined;
  try {
    args = CommandArgs.parse(argv, FLAGS);
    if (args === 'help') {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    numbers = parseNumbers(args);
    traces = parseTraces(args.string('traces'), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lathe dev: ${err.message}\n(see lathe dev --help)\n`);
      return 2;
    }
    throw err;
  }
  const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  const shared = process.env['LATHE_SHARED_DIR'] ?? resolve(root, '..', 'shared');
  const job = !args.flag('no-job');
  const work = resolve(args.string('work') ?? join('.lathe', 'dev'));
  const modelArg = args.string('model') ?? join(shared, 'models', 'stories260K');
  const data = args.string('data') ?? join(shared, 'data', 'sft', 'alpaca_tiny.json');
  let model = modelArg;
  if (job) {
    if (!existsSync(data)) {
      process.stderr.write(
        `lathe dev: ${data} does not exist: pass --data (or set LATHE_SHARED_DIR)\n`,
      );
      return 2;
    }
    if (!existsSync(modelArg)) {
      if (args.string('model') === undefined || !isHubModelId(modelArg)) {
        process.stderr.write(
          `lathe dev: ${modelArg} does not exist: pass --model DIR or a Hub id (or set LATHE_SHARED_DIR)\n`,
        );
        return 2;
      }
      try {
        model = await downloadHubModel(modelArg, join(work, 'hub', modelArg), {
          log: (line) => process.stderr.write(`lathe dev: ${line}\n`),
        });
      } catch (err) {
        process.stderr.write(`lathe dev: --model ${modelArg}: ${(err as Error).message}\n`);
        return 1;
      }
    } else if (!statSync(modelArg).isDirectory()) {
      process.stderr.write(`lathe dev: --model ${modelArg} is not a folder\n`);
      return 2;
    }
  }

  // The preferences service checks tokens even here: annotators are told apart by their tokens,
  // which an admin (this command, with a bootstrap secret made for this session) issues.
  const adminToken = randomBytes(32).toString('hex');
  const logDir = join(work, 'mesh', 'logs');
  mkdirSync(logDir, { recursive: true });
  const logs = new Map<string, WriteStream>();
  const onLog = (service: string, line: string): void => {
    let stream = logs.get(service);
    if (stream === undefined) {
      stream = createWriteStream(join(logDir, `${service.replace(/\s+/g, '-')}.log`), {
        flags: 'a',
      });
      logs.set(service, stream);
    }
    stream.write(`${line}\n`);
  };
  process.stderr.write(`lathe dev: starting the mesh (service logs in ${logDir}) ...\n`);
  let mesh: LocalMesh;
  try {
    mesh = await startLocalMesh({
      root,
      basePort: numbers.basePort,
      webPort: numbers.webPort,
      stateDir: join(work, 'mesh'),
      onLog,
      ...(traces === undefined ? {} : { traces }),
      serviceEnv: {
        preferences: {
          LATHE_AUTH_MODE: 'jwt',
          LATHE_JWT_SECRET: randomBytes(32).toString('hex'),
          LATHE_JWT_ISSUER: 'lathe-dev',
          LATHE_PREFERENCES_ADMIN_TOKEN: adminToken,
        },
      },
    });
  } catch (err) {
    return reportFailure(err);
  }
  try {
    for (const m of mesh.members)
      process.stderr.write(
        `  ${m.service.padEnd(12)} 127.0.0.1:${String(m.port)}  pid ${String(m.pid)}\n`,
      );
    if (job) {
      const code = await runMainJob(args, numbers, { work, model, data, mesh, adminToken, traces });
      if (code !== 0) return code;
    }
    if (!job || args.flag('keep-running')) {
      process.stderr.write('lathe dev: the mesh is up; Ctrl-C stops it\n');
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
    }
    return 0;
  } finally {
    await mesh.stop();
    for (const stream of logs.values()) stream.end();
    process.stderr.write('lathe dev: the mesh is stopped\n');
  }
}

interface JobContext {
  readonly work: string;
  readonly model: string;
  readonly data: string;
  readonly mesh: LocalMesh;
  readonly adminToken: string;
  readonly traces: MeshTraces | undefined;
}

/** The main job through the mesh; see {@link usage}. */
async function runMainJob(
  args: CommandArgs,
  numbers: JobNumbers,
  ctx: JobContext,
): Promise<number> {
  const say = (line: string): void => {
    process.stderr.write(`lathe dev: ${line}\n`);
  };
  const trace = newRunTrace();
  const clients = meshClients(ctx.mesh.addresses, trace, ctx.adminToken);
  const webUrl = `http://127.0.0.1:${String(ctx.mesh.webPort)}/`;
  try {
    say(`[1/5] importing ${ctx.model} into the registry`);
    const base = await importBaseModel(clients, 'dev-base', ctx.model).catch((e: unknown) => {
      throw stepError('import the base model', e);
    });
    say(
      `      ${base.ref.name}@${String(base.ref.version)} sha256:${base.ref.manifestSha256.slice(0, 16)}${base.reused ? ' (already registered: same files, reused)' : ''}`,
    );

    say(`[2/5] uploading and curating ${ctx.data}`);
    const sft = await uploadAndCurate(clients, 'dev-sft', ctx.data).catch((e: unknown) => {
      throw stepError('upload and curate the SFT data', e);
    });
    say(
      `      ${sft.ref.dataset}@${String(sft.ref.version)} sha256:${sft.ref.manifestSha256.slice(0, 16)}${sft.reused ? ' (same file and recipe as an earlier run: reused, nothing uploaded)' : ` (${String(sft.accepted)} records uploaded, ${String(sft.removed)} removed by curation)`}`,
    );

    say('[3/5] collecting preference judgements');
    const annotate = args.flag('annotate');
    const prefs = await collectPreferences(clients, {
      modelDir: ctx.model,
      model: base.ref,
      prompts: await promptsOf(ctx.data, numbers.items),
      dataset: 'dev-preferences',
      annotators: numbers.annotators,
      maxNewTokens: 24,
      log: (line) => say(`      ${line}`),
      ...(annotate
        ? {
            humans: async ({ taskId, token }) => {
              say(`      open ${webUrl} and sign in with this annotator token:`);
              say(`      ${token}`);
              say(`      task ${taskId}: waiting until every item is judged ...`);
              await waitForJudgements(clients, taskId, numbers.items);
            },
          }
        : {}),
    }).catch((e: unknown) => {
      throw stepError('collect preferences', e);
    });
    say(
      `      ${prefs.ref.dataset}@${String(prefs.ref.version)} sha256:${prefs.ref.manifestSha256.slice(0, 16)}${prefs.reused ? ' (same model, prompts and annotators as an earlier run: reused, no new task)' : ` (task ${prefs.taskId}: ${String(prefs.judgements)} judgements, ${String(prefs.pairs)} DPO pairs)`}`,
    );

    say('[4/5] training');
    const trained = args.flag('direct')
      ? await trainWithEngine(args, numbers, ctx, [base.ref.manifestSha256, sft.ref.manifestSha256])
      : await trainThroughJobs(args, numbers, ctx, clients, {
          base: base.ref,
          sft: sft.ref,
          preferences: prefs.ref,
        });
    if (typeof trained === 'number') return trained;
    const adapter = trained.dir;

    say('[5/5] sample generated with the adapter (greedy):');
    const prompt = args.string('prompt') ?? 'Once upon a time';
    const [sample] = await generateTexts(ctx.model, adapter, [prompt], {
      sampling: { greedy: true },
      seed: 0,
      maxNewTokens: numbers.maxNewTokens,
    });
    process.stdout.write(`${prompt} ${sample ?? ''}\n`);
    process.stderr.write(
      [
        '',
        'lathe dev: done.',
        ...ctx.mesh.members.map((m) => `  ${m.service.padEnd(12)} 127.0.0.1:${String(m.port)}`),
        `  web page     ${webUrl} (annotators; tokens from IssueAnnotatorToken)`,
        `  state        ${join(ctx.work, 'mesh')} (PGlite databases, artifacts, logs/)`,
        `  base model   ${base.ref.name}@${String(base.ref.version)} in the registry (from ${ctx.model})`,
        `  SFT data     ${sft.ref.dataset}@${String(sft.ref.version)} in the datasets service`,
        `  preferences  ${prefs.ref.dataset}@${String(prefs.ref.version)} (DPO pairs)`,
        ...trained.lines,
        `  trace id     ${trace.traceId}${ctx.traces === undefined ? ' (spans not exported: --traces)' : ` (${ctx.traces.exporter}${ctx.traces.file === undefined ? '' : ` ${ctx.traces.file}`})`}`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  } finally {
    clients.close();
  }
}

/** Polls the task until it holds `items` judgements (one person judging each item once). */
async function waitForJudgements(
  clients: ReturnType<typeof meshClients>,
  taskId: string,
  items: number,
): Promise<void> {
  for (;;) {
    const { task } = await clients.preferencesAdmin.getTask({ taskId });
    if (Number(task?.judgementCount ?? 0) >= items) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/**
 * Step 4 with --direct: a LoRA fine-tune by the compute engine in this process (no training
 * service), on the local data file, into a folder keyed by the digests of model, data and
 * settings (reused by a later run with the same inputs unless --fresh).
 */
async function trainWithEngine(
  args: CommandArgs,
  numbers: JobNumbers,
  ctx: JobContext,
  digests: readonly string[],
): Promise<Trained | number> {
  const settings = ['lora', String(numbers.maxSteps), 'q_proj,k_proj,v_proj,o_proj', '3e-3', '128'];
  const key = createHash('sha256')
    .update(JSON.stringify([...digests, ...settings]))
    .digest('hex');
  const adapter = join(ctx.work, `lora-${key.slice(0, 16)}`);
  if (!args.flag('fresh') && existsSync(join(adapter, 'adapter_model.safetensors'))) {
    process.stderr.write(
      `lathe dev:       same model, data and settings as an earlier run: reusing ${adapter}\n`,
    );
    return {
      dir: adapter,
      lines: [`  adapter      ${adapter} (--direct: trained by the engine in this process)`],
    };
  }
  const train = await import('./train.js');
  const code = await train.run([
    '--method',
    'lora',
    '--model',
    ctx.model,
    '--data',
    ctx.data,
    '--out',
    adapter,
    '--max-steps',
    String(numbers.maxSteps),
    '--lora-targets',
    'q_proj,k_proj,v_proj,o_proj',
    '--lr',
    '3e-3',
    '--seq-len',
    '128',
  ]);
  return code === 0
    ? {
        dir: adapter,
        lines: [`  adapter      ${adapter} (--direct: trained by the engine in this process)`],
      }
    : code;
}

/** The LoRA adapter's local folder (for the sample) and the summary lines of step 4. */
interface Trained {
  readonly dir: string;
  readonly lines: readonly string[];
}

/**
 * Step 4 through the mesh: a LoRA job (and QLoRA, DPO jobs when asked) created on the training
 * service and followed on its WatchJob stream with a progress line, then the LoRA adapter
 * downloaded from the registry for the sample.
 */
async function trainThroughJobs(
  args: CommandArgs,
  numbers: JobNumbers,
  ctx: JobContext,
  clients: ReturnType<typeof meshClients>,
  inputs: { base: ModelVersionRef; sft: DatasetVersionRef; preferences: DatasetVersionRef },
): Promise<Trained> {
  const runs: Array<{ method: Method; name: string; dataset: DatasetVersionRef; lr: number }> = [
    { method: Method.METHOD_LORA, name: 'dev-lora', dataset: inputs.sft, lr: 3e-3 },
  ];
  if (args.flag('qlora'))
    runs.push({ method: Method.METHOD_QLORA, name: 'dev-qlora', dataset: inputs.sft, lr: 3e-3 });
  if (args.flag('dpo'))
    runs.push({
      method: Method.METHOD_DPO,
      name: 'dev-dpo',
      dataset: inputs.preferences,
      lr: 1e-3,
    });
  const lines: string[] = [];
  let loraDir = '';
  for (const run of runs) {
    const label = (Method[run.method] ?? '').replace('METHOD_', '').toLowerCase();
    const tty = process.stderr.isTTY;
    let last = '';
    const { job, reused } = await runTrainingJob(clients.training, {
      method: run.method,
      base: inputs.base,
      dataset: run.dataset,
      maxSteps: numbers.maxSteps,
      maxSeqLength: 128,
      learningRate: run.lr,
      outputName: run.name,
      onEvent: (event) => {
        const text = `      ${label} job: ${describeJobEvent(event)}`;
        if (event.event?.$case === 'progress' && tty) {
          process.stderr.write(`\r${text.padEnd(last.length)}`);
        } else {
          process.stderr.write(`${tty && last !== '' ? '\n' : ''}${text}\n`);
        }
        last = event.event?.$case === 'progress' && tty ? text : '';
      },
    }).catch((e: unknown) => {
      throw stepError(`${label} job`, e);
    });
    if (last !== '') process.stderr.write('\n');
    const result = job.result;
    if (result === undefined) throw new Error(`${label} job ${job.id} succeeded without a result`);
    const at = `${result.name}@${String(result.version)}`;
    process.stderr.write(
      `lathe dev:       ${label} job ${job.id}: ${at}${reused ? ' (the same spec ran before: that job is reused, nothing trained)' : ''}\n`,
    );
    lines.push(`  ${label} adapter: ${at} in the registry (job ${job.id})`);
    if (run.method === Method.METHOD_LORA) {
      loraDir = join(ctx.work, 'adapters', `${result.name}-${String(result.version)}`);
      if (!existsSync(join(loraDir, 'adapter_model.safetensors')))
        await downloadToDir(
          clients.registry.channel,
          { name: result.name, selector: { $case: 'version', version: result.version } },
          loraDir,
        );
      lines.push(`               downloaded to ${loraDir}`);
    }
  }
  return { dir: loraDir, lines };
}
