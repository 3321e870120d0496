import { mergeAdapterDir } from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';

/** One line for `lathe --help`. */
export const summary = 'fold a LoRA adapter into its base model and write Hugging Face safetensors';

/** Every flag; printed by `lathe merge --help`. */
export const usage = `usage: lathe merge --model DIR --adapter DIR --out DIR

Computes W + (alpha/r)·B·A for every adapted layer and writes --out as a Hugging Face model
directory: model.safetensors (fp32) plus config.json and the tokenizer files of --model.

required:
  --model DIR     base model directory (Hugging Face layout)
  --adapter DIR   PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors)
  --out DIR       output directory (created)
options:
  -h, --help      this help`;

/**
 * `lathe merge`.
 *
 * @returns 0 done, 1 a model/adapter problem, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  let args: CommandArgs | 'help';
  try {
    args = CommandArgs.parse(argv, { model: 'string', adapter: 'string', out: 'string' }, [
      'model',
      'adapter',
      'out',
    ]);
  } catch (err) {
    process.stderr.write(`lathe merge: ${(err as Error).message}\n(see lathe merge --help)\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [model, adapter, out] = [
    args.required('model'),
    args.required('adapter'),
    args.required('out'),
  ];
  try {
    const changed = await mergeAdapterDir(model, adapter, out);
    process.stdout.write(
      `merged ${adapter} into ${model}: ${changed} weights changed; wrote ${out}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
