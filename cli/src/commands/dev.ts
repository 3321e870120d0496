import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandArgs } from '../command-args.js';
import { findRepoRoot, startLocalMesh, type LocalMesh } from '../dev/local-mesh.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';

/** One line for `lathe --help`. */
export const summary =
  'start the whole mesh locally and run the main job: a LoRA fine-tune and a sample from it';

/** Every flag with its default; printed by `lathe dev --help`. */
export const usage = `usage: lathe dev [flags]

Starts the five services (datasets, preferences, quantization, training, registry) as their own
processes on 127.0.0.1 with authentication off, then runs the main job with the compute engine:
a LoRA fine-tune of the model on the SFT data, and a greedy sample generated with the new adapter.
A second run reuses the adapter and the services' state the first one made (--fresh trains
again). The training service does not run jobs yet (its RPCs answer UNIMPLEMENTED), so today the
job drives the compute engine directly rather than through the mesh.

options (default in brackets):
  --model DIR          Hugging Face model directory [$LATHE_SHARED_DIR/models/stories260K,
                       where LATHE_SHARED_DIR defaults to the folder 'shared' beside the checkout]
  --data FILE          SFT data, JSONL or JSON [$LATHE_SHARED_DIR/data/sft/alpaca_tiny.json]
  --work DIR           where the run's outputs and the services' state (PGlite databases,
                       artifacts) go [.lathe/dev]
  --max-steps N        LoRA optimizer steps [60]
  --prompt TEXT        prompt of the sample [Once upon a time]
  --max-new-tokens N   length of the sample [64]
  --port-base N        port of the first service; the others follow [50061]
  --fresh              train again even if --work holds an adapter [reuse]
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
  'port-base': 'string',
  fresh: 'boolean',
  'keep-running': 'boolean',
  'no-job': 'boolean',
} as const;

/** The numeric flags, parsed up front so a malformed one is a usage error. */
interface JobNumbers {
  readonly basePort: number;
  readonly maxSteps: number;
  readonly maxNewTokens: number;
}

/** `lathe dev`: see {@link usage}. */
export async function run(argv: string[]): Promise<number> {
  let args: CommandArgs | 'help';
  let numbers: JobNumbers;
  try {
    args = CommandArgs.parse(argv, FLAGS);
    numbers =
      args === 'help'
        ? { basePort: 0, maxSteps: 0, maxNewTokens: 0 }
        : {
            basePort: args.integer('port-base') ?? 50061,
            maxSteps: args.integer('max-steps') ?? 60,
            maxNewTokens: args.integer('max-new-tokens') ?? 64,
          };
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lathe dev: ${err.message}\n(see lathe dev --help)\n`);
      return 2;
    }
    throw err;
  }
  if (args === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  const shared = process.env['LATHE_SHARED_DIR'] ?? resolve(root, '..', 'shared');
  const job = !args.flag('no-job');
  const work = resolve(args.string('work') ?? join('.lathe', 'dev'));
  const model = args.string('model') ?? join(shared, 'models', 'stories260K');
  const data = args.string('data') ?? join(shared, 'data', 'sft', 'alpaca_tiny.json');
  if (job) {
    for (const [flag, path] of [
      ['--model', model],
      ['--data', data],
    ] as const) {
      if (!existsSync(path)) {
        process.stderr.write(
          `lathe dev: ${path} does not exist: pass ${flag} (or set LATHE_SHARED_DIR)\n`,
        );
        return 2;
      }
    }
  }

  process.stderr.write('lathe dev: starting the mesh ...\n');
  let mesh: LocalMesh;
  try {
    mesh = await startLocalMesh({
      root,
      basePort: numbers.basePort,
      stateDir: join(work, 'mesh'),
    });
  } catch (err) {
    return reportFailure(err);
  }
  try {
    for (const m of mesh.members)
      process.stderr.write(`  ${m.service.padEnd(12)} 127.0.0.1:${m.port}  pid ${m.pid}\n`);
    if (job) {
      const code = await runMainJob(args, numbers, work, model, data);
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
    process.stderr.write('lathe dev: the mesh is stopped\n');
  }
}

/** The engine part of the job: LoRA fine-tune (or reuse), then a greedy sample with the adapter. */
async function runMainJob(
  args: CommandArgs,
  numbers: JobNumbers,
  work: string,
  model: string,
  data: string,
): Promise<number> {
  const adapter = join(work, 'lora');
  const reuse = !args.flag('fresh') && existsSync(join(adapter, 'adapter_model.safetensors'));
  if (reuse) {
    process.stderr.write(`lathe dev: reusing the adapter of the previous run in ${adapter}\n`);
  } else {
    process.stderr.write(`lathe dev: LoRA fine-tune of ${model} on ${data}\n`);
    const train = await import('./train.js');
    const code = await train.run([
      '--method',
      'lora',
      '--model',
      model,
      '--data',
      data,
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
    if (code !== 0) return code;
  }
  process.stderr.write('lathe dev: sample generated with the adapter:\n');
  const generate = await import('./generate.js');
  const code = await generate.run([
    '--model',
    model,
    '--adapter',
    adapter,
    '--prompt',
    args.string('prompt') ?? 'Once upon a time',
    '--max-new-tokens',
    String(numbers.maxNewTokens),
    '--greedy',
  ]);
  if (code !== 0) return code;
  process.stderr.write(
    [
      '',
      'lathe dev: done.',
      `  base model   ${model}`,
      `  data         ${data}`,
      `  adapter      ${adapter} (PEFT layout: adapter_config.json, adapter_model.safetensors)`,
      `  summary      ${join(adapter, 'training_summary.json')}`,
      '',
    ].join('\n'),
  );
  return 0;
}
