import {
  computeGradients,
  loadLlamaModel,
  loadLoraAdapter,
  readTokenBatch,
  writeSafetensors,
} from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { runDpoGrads } from './grads-dpo.js';
import { rawFlag } from './dpo-flags.js';

/** One line for `lathe --help`. */
export const summary =
  'loss and gradients of the trainable tensors for one batch, written as safetensors';

/** Every flag; printed by `lathe grads --help`. */
export const usage = `usage: lathe grads --model DIR [--adapter DIR] --tokens FILE.json --out FILE.safetensors

Computes the mean token loss of one batch and the gradient of every trainable tensor: the
adapter's lora_A/lora_B under PEFT names with --adapter, else every weight under Hugging Face
names (full fine-tuning). The loss and target-token count go in the file's metadata
("loss", "tokens").

--tokens is JSON, rows right-padded (shorter rows are padded for you):
  [[ids...], ...]                                     every token after the first is a target
  {"input_ids": [[...]], "loss_mask": [[0/1...]]}     tokens with mask 1 are targets
  {"input_ids": [[...]], "labels": [[...]]}           Hugging Face labels, -100 ignored

required:
  --model DIR     Hugging Face model directory
  --tokens FILE   the batch (see above)
  --out FILE      gradients (.safetensors, fp32)
options:
  --adapter DIR   PEFT LoRA adapter whose A and B are the trainable tensors
  -h, --help      this help

DPO on token-id pairs instead: lathe grads --objective dpo --help`;

/**
 * `lathe grads`.
 *
 * @returns 0 done, 1 a model/file problem, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  if (rawFlag(argv, 'objective') !== undefined) return runDpoGrads(argv);
  let args: CommandArgs | 'help';
  try {
    args = CommandArgs.parse(
      argv,
      { model: 'string', adapter: 'string', tokens: 'string', out: 'string' },
      ['model', 'tokens', 'out'],
    );
  } catch (err) {
    process.stderr.write(`lathe grads: ${(err as Error).message}\n(see lathe grads --help)\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    const model = await loadLlamaModel(args.required('model'));
    const adapterDir = args.string('adapter');
    const adapter =
      adapterDir === undefined ? undefined : await loadLoraAdapter(adapterDir, model.config);
    const batch = await readTokenBatch(args.required('tokens'), model.config.vocabSize);
    const result = await computeGradients(model, batch, { adapter });
    const out = args.required('out');
    await writeSafetensors(out, result.grads, {
      loss: String(result.loss),
      tokens: String(result.tokenCount),
    });
    process.stdout.write(
      `loss ${result.loss} over ${result.tokenCount} target tokens; ${result.grads.size} gradients -> ${out}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
