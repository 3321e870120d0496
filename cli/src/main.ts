import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
/** What every command module provides. */
export interface Command {
  /** One line for `lathe --help`. */
  readonly summary: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  readonly run: (argv: string[]) => Promise<number>;
}

/**
 * The commands of `lathe`, by name, in the order help lists them. Loaded on demand, so one command's
 * start-up cost (or a broken build of it) never affects another.
 */
export const COMMANDS: ReadonlyMap<string, () => Promise<Command>> = new Map<
  string,
  () => Promise<Command>
>([
  ['dev', () => import('./commands/dev.js')],
  ['train', () => import('./commands/train.js')],
  ['eval', () => import('./commands/eval.js')],
  ['merge', () => import('./commands/merge.js')],
  ['generate', () => import('./commands/generate.js')],
  ['grads', () => import('./commands/grads.js')],
  ['quantize', () => import('./commands/quantize.js')],
  ['models', () => import('./commands/models.js')],
  ['adapters', () => import('./commands/adapters.js')],
  ['alias', () => import('./commands/alias.js')],
  ['datasets', () => import('./commands/datasets.js')],
  ['preferences', () => import('./commands/preferences.js')],
  ['jobs', () => import('./commands/jobs.js')],
]);

/** `lathe --help`: every command with its summary. */
export async function helpText(): Promise<string> {
  const width = Math.max(...[...COMMANDS.keys()].map((n) => n.length));
  const lines: string[] = [];
  for (const [name, load] of COMMANDS) {
    const summary = await load().then(
      (c) => c.summary,
      (err: unknown) => `(unavailable: ${(err as Error).message.split('\n')[0] ?? ''})`,
    );
    lines.push(`  ${name.padEnd(width)}  ${summary}`);
  }
  return [
    'usage: lathe <command> [flags]',
    '',
    'Fine-tuning and inference for Llama-family models, computed with ONNX graphs in onnxruntime.',
    '',
    'commands:',
    ...lines,
    '',
    "Run 'lathe <command> --help' (or 'lathe help <command>') for a command's flags and defaults.",
  ].join('\n');
}

/**
 * Dispatches `lathe <command> ...`.
 *
 * @returns the exit code: the command's, 0 for help, 2 for an unknown command or none
 */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (
    first === undefined ||
    first === '--help' ||
    first === '-h' ||
    (first === 'help' && rest.length === 0)
  ) {
    (first === undefined ? process.stderr : process.stdout).write(`${await helpText()}\n`);
    return first === undefined ? 2 : 0;
  }
  const [name, args] = first === 'help' ? [rest[0] ?? '', ['--help']] : [first, rest];
  const load = COMMANDS.get(name);
  if (load === undefined) {
    process.stderr.write(`lathe: unknown command "${name}"\n${await helpText()}\n`);
    return 2;
  }
  const command = await load();
  return command.run(args);
}

// Run only when executed (bin/lathe.js or `node dist/src/main.js`), never on import.
const invoked = process.argv[1];
if (
  invoked !== undefined &&
  realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url))
) {
  process.exitCode = await main(process.argv.slice(2));
}
