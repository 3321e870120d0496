import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import type { SftExample } from './sft-example.js';

/** A tokenized example: ids and, per id, whether it is a completion token to train on. */
export interface TokenizedExample {
  readonly ids: number[];
  /** true where the token belongs to an assistant turn (or plain text); prompt tokens are false. */
  readonly trainMask: boolean[];
}

/**
 * The documented plain prompt format, used when the tokenizer has no chat template:
 *
 * ```
 * <bos>{system}\n\n                                    (only when there is a system message)
 * ### Instruction:\n{user}\n\n### Response:\n{assistant}<eos>   (one block per exchange)
 * ```
 *
 * It is Alpaca's layout without the preamble; a user block already ends with the response header,
 * so it is its own generation prompt. Assistant text and its `<eos>` are trained on;
 * everything else is prompt. Plain `text` records are `<bos>{text}<eos>`, all trained on.
 */
export function renderPlainPrompt(
  messages: readonly ChatMessage[],
  bos: string,
  eos: string,
): string {
  let out = bos;
  for (const m of messages) {
    if (m.role === 'system') out += `${m.content}\n\n`;
    else if (m.role === 'user') out += `### Instruction:\n${m.content}\n\n### Response:\n`;
    else out += `${m.content}${eos}`;
  }
  return out;
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Text of a special token id, or '' when the tokenizer has none. */
function specialText(tokenizer: TextTokenizer, id: number | undefined): string {
  return id === undefined ? '' : tokenizer.decode([id], true);
}

/**
 * Tokenizes an example with the model's chat template when it has one, else with the plain
 * prompt format ({@link renderPlainPrompt}), and marks the tokens to train on.
 *
 * Assistant spans are found by rendering the conversation up to each assistant turn (with the
 * generation prompt) and up to its end, tokenizing those prefixes, and taking their common prefix
 * with the full tokenization; a token that straddles a boundary counts as prompt, so prompt text
 * is never trained on.
 */
export function tokenizeExample(example: SftExample, tokenizer: TextTokenizer): TokenizedExample {
  const bos = specialText(tokenizer, tokenizer.bosTokenId);
  const eos = specialText(tokenizer, tokenizer.eosTokenId);
  const encode = (text: string): number[] => tokenizer.encode(text, { addSpecialTokens: false });
  if (example.kind === 'text') {
    const ids = encode(`${bos}${example.text}${eos}`);
    return { ids, trainMask: ids.map(() => true) };
  }
  const template = tokenizer.chatTemplate;
  const render = (messages: readonly ChatMessage[], generationPrompt: boolean): string =>
    template === undefined
      ? renderPlainPrompt(messages, bos, eos)
      : template.render(messages, generationPrompt);
  const { messages } = example;
  const ids = encode(render(messages, false));
  const trainMask = ids.map(() => false);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const start = commonPrefixLength(encode(render(messages.slice(0, i), true)), ids);
    const end = commonPrefixLength(encode(render(messages.slice(0, i + 1), false)), ids);
    for (let t = start; t < end; t++) trainMask[t] = true;
  });
  return { ids, trainMask };
}
