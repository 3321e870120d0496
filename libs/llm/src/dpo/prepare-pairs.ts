import type { SeededRandom } from '../optim/seeded-random.js';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { loadPreferenceData } from './load-preference-data.js';
import { tokenizePairs, type PairLimits, type TokenizedPairs } from './tokenize-pairs.js';

/** Where a DPO run's pairs come from, as {@link preparePairs} reads it. */
export interface PairSources {
  readonly dataPath: string;
  readonly evalDataPath?: string;
  readonly skipBadRecords?: boolean;
  readonly agreementWeights?: boolean;
}

/**
 * The tokenized training and held-out pairs: the eval file's, or `fraction` of the data's
 * records split off with the run's seed.
 */
export async function preparePairs(
  options: PairSources,
  tokenizer: TextTokenizer,
  limits: PairLimits,
  fraction: number,
  rng: SeededRandom,
): Promise<{ train: TokenizedPairs; held: TokenizedPairs }> {
  const load = {
    skipBadRecords: options.skipBadRecords ?? false,
    agreementWeights: options.agreementWeights ?? false,
  };
  const data = await loadPreferenceData(options.dataPath, load);
  if (options.evalDataPath !== undefined) {
    const evalData = await loadPreferenceData(options.evalDataPath, load);
    return {
      train: tokenizePairs(data.examples, tokenizer, limits),
      held: tokenizePairs(evalData.examples, tokenizer, limits),
    };
  }
  if (!(fraction > 0 && fraction < 1))
    throw new RangeError(`eval-fraction: must be in (0, 1) (got ${fraction})`);
  // Split the records (not the kept pairs), so the report of each side counts its own records.
  const order = rng.split('eval-split').shuffle(data.examples.map((_, i) => i));
  const nEval = Math.max(1, Math.round(order.length * fraction));
  const evalSet = new Set(order.slice(0, nEval));
  return {
    train: tokenizePairs(
      data.examples.filter((_, i) => !evalSet.has(i)),
      tokenizer,
      limits,
    ),
    held: tokenizePairs(
      data.examples.filter((_, i) => evalSet.has(i)),
      tokenizer,
      limits,
    ),
  };
}
