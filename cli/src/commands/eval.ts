import { evaluateSft } from '@lathe/llm';
import { reportFailure } from '../report-failure.js';
import { CommandArgs } from '../command-args.js';

/** One line for `lathe --help`. */
export const summary =
  'mean loss and perplexity of a model (and optional LoRA adapter) on a data file';

/** Every flag with its default; printed by `lathe eval --help`. */
export const usage = `usage: lathe eval --model DIR [--adapter DIR] --data FILE [flags]

Mean token loss over completion tokens (prompts masked, as in training) and perplexity exp(loss).

required:
  --model DIR          Hugging Face model directory
  --data FILE          evaluation data (JSONL or JSON array; same formats as lathe train)
options (default in brackets):
  --adapter DIR        PEFT LoRA adapter applied on the model [none]
  --batch-size N       rows per forward pass [4]
  --seq-len N          tokens per row; longer examples are truncated [256]
  --skip-bad-records   drop bad records (counted) instead of stopping [stop]
  --json               print one JSON object instead of text [text]
  -h, --help           this help`;

/**
 * `lathe eval`: prints `loss L perplexity P (N tokens, E examples)` or, with --json, an object.
 *
 * @returns 0 done, 1 a data/model problem, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  let args: CommandArgs | 'help';
  let batchSize: number | undefined;
  let seqLen: number | undefined;
  try {
    args = CommandArgs.parse(
      argv,
      {
        model: 'string',
        adapter: 'string',
        data: 'string',
        'batch-size': 'string',
        'seq-len': 'string',
        'skip-bad-records': 'boolean',
        json: 'boolean',
      },
      ['model', 'data'],
    );
    if (args !== 'help') {
      batchSize = args.integer('batch-size');
      seqLen = args.integer('seq-len');
    }
  } catch (err) {
    process.stderr.write(`lathe eval: ${(err as Error).message}\n(see lathe eval --help)\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    const r = await evaluateSft({
      modelDir: args.required('model'),
      adapterDir: args.string('adapter'),
      dataPath: args.required('data'),
      batchSize,
      seqLen,
      skipBadRecords: args.flag('skip-bad-records'),
    });
    if (args.flag('json')) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      process.stdout.write(
        `loss ${r.loss.toFixed(6)} perplexity ${r.perplexity.toFixed(4)} (${r.tokens} tokens, ${r.examples} examples` +
          `${r.rejectedRecords > 0 ? `, ${r.rejectedRecords} bad records skipped` : ''})\n`,
      );
    }
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
