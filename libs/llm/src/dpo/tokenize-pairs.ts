import { renderPlainPrompt } from '../data/tokenize-example.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import type { PreferenceExample } from './preference-example.js';
import type { PreferencePair } from './preference-pair.js';

/** Length limits (TRL's `max_length` and `max_prompt_length`). */
export interface PairLimits {
  /** Most tokens of prompt + response in a row. Default 512. */
  readonly maxLength: number;
  /** Most prompt tokens. Default 256. */
  readonly maxPromptLength: number;
  /**
   * A prompt over `maxPromptLength`: 'truncate' keeps its first token (BOS) and its last
   * tokens, the part nearest the responses (TRL's keep_end); 'skip' leaves the pair out.
   * Either way the pair is counted. Default 'truncate'.
   */
  readonly longPrompt: 'truncate' | 'skip';
}

/** Fills and validates {@link PairLimits}; errors name the option. */
export function createPairLimits(options: Partial<PairLimits> = {}): PairLimits {
  const limits: PairLimits = {
    maxLength: options.maxLength ?? 512,
    maxPromptLength: options.maxPromptLength ?? 256,
    longPrompt: options.longPrompt ?? 'truncate',
  };
  if (!Number.isInteger(limits.maxPromptLength) || limits.maxPromptLength < 1)
    throw new RangeError(
      `max-prompt-length: must be a positive integer (got ${limits.maxPromptLength})`,
    );
  if (!Number.isInteger(limits.maxLength) || limits.maxLength <= limits.maxPromptLength)
    throw new RangeError(
      `max-length: must be an integer above max-prompt-length ${limits.maxPromptLength} (got ${limits.maxLength})`,
    );
  return limits;
}

/** A pair left out, with its record number (0-based, in input order) and why. */
export interface SkippedPair {
  readonly index: number;
  readonly reason: 'empty response' | 'identical responses' | 'prompt too long';
}

/** What tokenization had to change or leave out: every count is reported, nothing is silent. */
export interface PairReport {
  readonly kept: number;
  readonly skipped: readonly SkippedPair[];
  readonly emptyResponse: number;
  readonly identicalResponses: number;
  readonly promptTooLong: number;
  /** Prompts cut to `maxPromptLength` (kept pairs). */
  readonly promptTruncated: number;
  /** Responses cut so that prompt + response fits `maxLength` (each response counts). */
  readonly responseTruncated: number;
}

/** Tokenized pairs plus the report. */
export interface TokenizedPairs {
  readonly pairs: PreferencePair[];
  /** For each kept pair, the index of its example. */
  readonly sources: number[];
  readonly report: PairReport;
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Tokenizes preference examples into pairs. Chat prompts use the model's chat template when it
 * has one, else the plain format of SFT (`renderPlainPrompt`); text prompts are `<bos>{prompt}`
 * and responses end with `<eos>`. The responses' tokens are the full rendering's tokens after
 * the prompt's: the prompt ends where the prompt alone and both full renderings stop agreeing,
 * so a token straddling the boundary counts as response and both rows share one prompt.
 *
 * Pairs with an empty or identical response, and (with `longPrompt: 'skip'`) over-long prompts,
 * are left out and counted; truncations are counted too.
 */
export function tokenizePairs(
  examples: readonly PreferenceExample[],
  tokenizer: TextTokenizer,
  limits: PairLimits,
): TokenizedPairs {
  const bos =
    tokenizer.bosTokenId === undefined ? '' : tokenizer.decode([tokenizer.bosTokenId], true);
  const eos =
    tokenizer.eosTokenId === undefined ? '' : tokenizer.decode([tokenizer.eosTokenId], true);
  const encode = (s: string): number[] => tokenizer.encode(s, { addSpecialTokens: false });
  const template = tokenizer.chatTemplate;
  const renderChat = (messages: readonly ChatMessage[], generationPrompt: boolean): string =>
    template === undefined
      ? renderPlainPrompt(messages, bos, eos)
      : template.render(messages, generationPrompt);
  const pairs: PreferencePair[] = [];
  const sources: number[] = [];
  const skipped: SkippedPair[] = [];
  let promptTruncated = 0;
  let responseTruncated = 0;
  examples.forEach((ex, index) => {
    if (ex.chosen.trim() === '' || ex.rejected.trim() === '') {
      skipped.push({ index, reason: 'empty response' });
      return;
    }
    if (ex.chosen === ex.rejected) {
      skipped.push({ index, reason: 'identical responses' });
      return;
    }
    const [promptText, chosenText, rejectedText] =
      ex.kind === 'chat'
        ? [
            renderChat(ex.prompt, true),
            renderChat([...ex.prompt, { role: 'assistant', content: ex.chosen }], false),
            renderChat([...ex.prompt, { role: 'assistant', content: ex.rejected }], false),
          ]
        : [
            `${bos}${ex.prompt}`,
            `${bos}${ex.prompt}${ex.chosen}${eos}`,
            `${bos}${ex.prompt}${ex.rejected}${eos}`,
          ];
    const promptIds = encode(promptText);
    const chosenIds = encode(chosenText);
    const rejectedIds = encode(rejectedText);
    const k = Math.min(
      commonPrefixLength(promptIds, chosenIds),
      commonPrefixLength(promptIds, rejectedIds),
    );
    let prompt = promptIds.slice(0, k);
    let chosen = chosenIds.slice(k);
    let rejected = rejectedIds.slice(k);
    if (chosen.length === 0 || rejected.length === 0) {
      skipped.push({ index, reason: 'empty response' });
      return;
    }
    if (prompt.length > limits.maxPromptLength) {
      if (limits.longPrompt === 'skip') {
        skipped.push({ index, reason: 'prompt too long' });
        return;
      }
      prompt = [...prompt.slice(0, 1), ...prompt.slice(prompt.length - limits.maxPromptLength + 1)];
      promptTruncated += 1;
    }
    const room = limits.maxLength - prompt.length;
    if (chosen.length > room) {
      chosen = chosen.slice(0, room);
      responseTruncated += 1;
    }
    if (rejected.length > room) {
      rejected = rejected.slice(0, room);
      responseTruncated += 1;
    }
    if (chosen.length === rejected.length && chosen.every((t, i) => t === rejected[i])) {
      // Truncation made them equal: such a pair carries no preference signal.
      skipped.push({ index, reason: 'identical responses' });
      return;
    }
    pairs.push({ prompt, chosen, rejected, weight: ex.weight });
    sources.push(index);
  });
  const count = (reason: SkippedPair['reason']): number =>
    skipped.filter((s) => s.reason === reason).length;
  return {
    pairs,
    sources,
    report: {
      kept: pairs.length,
      skipped,
      emptyResponse: count('empty response'),
      identicalResponses: count('identical responses'),
      promptTooLong: count('prompt too long'),
      promptTruncated,
      responseTruncated,
    },
  };
}
