import {
  computeDpoGradients,
  createDpoLossConfig,
  loadLlamaModel,
  loadLoraAdapter,
  readPairTokens,
  writeSafetensors,
  type DpoLossType,
} from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';
import { DPO_LOSS_FLAGS } from './dpo-flags.js';

/** Printed by `lathe grads --objective dpo --help`. */
export const usage = `usage: lathe grads --objective dpo --model DIR [--adapter DIR] --pairs FILE.json --out FILE.safetensors
                   [--beta 0.1] [--loss sigmoid|ipo] [--label-smoothing 0] [--reference DIR]

The DPO loss of a batch of preference pairs (pair-weighted mean) and the gradient of every
trainable tensor (the adapter's A and B with --adapter, else every weight). The reference
log-probs come from one forward pass of --reference, or of the model without the adapter.
Prints the loss and TRL's metrics as JSON; the file's metadata holds "loss" and "metrics".

--pairs is JSON: [{"prompt": [ids], "chosen": [ids], "rejected": [ids], "weight": 1}, ...]
(the prompt includes BOS if the model wants one; only response tokens are scored).

  --beta B              β [0.1]
  --loss sigmoid|ipo    the DPO paper's logistic loss or IPO (on mean per-token log-probs) [sigmoid]
  --label-smoothing E   conservative DPO's ε, sigmoid only [0]
  --reference DIR       the frozen reference model [the model without the adapter]`;

/**
 * `lathe grads --objective dpo`.
 *
 * @returns 0 done, 1 a model/file problem, 2 a usage error
 */
export async function runDpoGrads(argv: string[]): Promise<number> {
  let args: CommandArgs | 'help';
  let loss;
  try {
    args = CommandArgs.parse(
      argv,
      {
        objective: 'string',
        model: 'string',
        adapter: 'string',
        pairs: 'string',
        out: 'string',
        ...DPO_LOSS_FLAGS,
      },
      ['model', 'pairs', 'out'],
    );
    if (args !== 'help') {
      if (args.string('objective') !== 'dpo')
        throw new UsageError(`--objective must be dpo (or absent for the token loss)`);
      loss = createDpoLossConfig({
        beta: args.number('beta'),
        lossType: args.string('loss') as DpoLossType | undefined,
        labelSmoothing: args.number('label-smoothing'),
      });
    }
  } catch (err) {
    process.stderr.write(
      `lathe grads: ${(err as Error).message}\n(see lathe grads --objective dpo --help)\n`,
    );
    return 2;
  }
  if (args === 'help' || loss === undefined) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    const model = await loadLlamaModel(args.required('model'));
    const adapterDir = args.string('adapter');
    const adapter =
      adapterDir === undefined ? undefined : await loadLoraAdapter(adapterDir, model.config);
    const referenceDir = args.string('reference');
    const reference = referenceDir === undefined ? undefined : await loadLlamaModel(referenceDir);
    const pairs = await readPairTokens(args.required('pairs'), model.config.vocabSize);
    const result = await computeDpoGradients(model, pairs, { adapter, reference, loss });
    const out = args.required('out');
    await writeSafetensors(out, result.grads, {
      loss: String(result.metrics.loss),
      metrics: JSON.stringify(result.metrics),
    });
    process.stdout.write(
      `${JSON.stringify({ ...result.metrics, pairs: pairs.length, gradients: result.grads.size, out })}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
