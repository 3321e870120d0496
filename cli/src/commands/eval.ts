import { parseArgs } from 'node:util';
import { evaluateSft } from '@lathe/llm';
import { reportFailure } from '../report-failure.js';
import { UsageError, numberFlag } from '../usage-error.js';

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
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        data: { type: 'string' },
        'batch-size': { type: 'string' },
        'seq-len': { type: 'string' },
        'skip-bad-records': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help !== true) {
      for (const flag of ['model', 'data'] as const) {
        if (values[flag] === undefined) throw new UsageError(`--${flag} is required`);
      }
    }
  } catch (err) {
    process.stderr.write(`lathe eval: ${(err as Error).message}\n(see lathe eval --help)\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  let batchSize: number | undefined;
  let seqLen: number | undefined;
  try {
    batchSize = numberFlag('batch-size', values['batch-size'], 'integer');
    seqLen = numberFlag('seq-len', values['seq-len'], 'integer');
  } catch (err) {
    process.stderr.write(`lathe eval: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const r = await evaluateSft({
      modelDir: values.model ?? '',
      adapterDir: values.adapter,
      dataPath: values.data ?? '',
      batchSize,
      seqLen,
      skipBadRecords: values['skip-bad-records'] === true,
    });
    if (values.json === true) {
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
