import { TextGenerator } from '../generate/text-generator.js';
import type { LlamaModel } from '../model/llama-model.js';
import { SeededRandom } from '../optim/seeded-random.js';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.js';

/** A constructed text preference record (the `{prompt, chosen, rejected}` layout). */
export interface StoryPairRecord {
  readonly prompt: string;
  readonly chosen: string;
  readonly rejected: string;
}

const OPENERS = [
  'Once upon a time',
  'One day',
  'There was a little',
  'Lily and Tom',
  'The sun was',
];

/**
 * Preference pairs a small story model can learn from: the model writes a story (seeded
 * sampling); the prompt is its first sentence, the chosen response its next sentence, and the
 * rejected response the same words shuffled. Both responses have the same words, so only their
 * order separates them: the signal is fluency, not vocabulary or length. For tests and
 * demonstrations of DPO on models like stories260K that know only children's stories.
 */
export async function buildStoryPairs(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  options: { count: number; seed: number },
): Promise<StoryPairRecord[]> {
  const generator = await TextGenerator.create(model, { threads: 1 });
  const rng = SeededRandom.fromSeed(options.seed);
  const out: StoryPairRecord[] = [];
  try {
    for (let i = 0; out.length < options.count; i++) {
      if (i > options.count * 4)
        throw new Error(`only ${out.length} of ${options.count} story pairs after ${i} stories`);
      const opener = OPENERS[i % OPENERS.length] ?? 'Once upon a time';
      const ids = tokenizer.encode(opener);
      const { tokenIds } = await generator.generate(ids, {
        maxNewTokens: 80,
        sampling: { temperature: 0.8, topK: 40 },
        seed: options.seed * 100_003 + i,
        ...(tokenizer.eosTokenId === undefined ? {} : { stopTokenIds: [tokenizer.eosTokenId] }),
      });
      const text = tokenizer.decode([...ids, ...tokenIds]);
      const sentences = text.split(/(?<=[.!?])\s+/);
      const [first, second] = sentences;
      if (first === undefined || second === undefined || sentences.length < 3) continue;
      const words = second.split(/\s+/).filter((w) => w !== '');
      if (words.length < 4) continue;
      let shuffled = words;
      for (let tries = 0; tries < 10 && shuffled.join(' ') === words.join(' '); tries++)
        shuffled = rng.split(`shuffle-${i}-${tries}`).shuffle([...words]);
      if (shuffled.join(' ') === words.join(' ')) continue;
      out.push({
        prompt: first,
        chosen: ` ${words.join(' ')}`,
        rejected: ` ${shuffled.join(' ')}`,
      });
    }
  } finally {
    await generator.close();
  }
  return out;
}
