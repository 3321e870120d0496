import type { TextTokenizer } from '@lathe/llm';
import { tokenizeExample } from '@lathe/llm';
import type { CanonicalMessage, CanonicalRecord } from './canonical-record.js';

const chat = (tokenizer: TextTokenizer, messages: readonly CanonicalMessage[]): number =>
  tokenizeExample({ kind: 'chat', messages }, tokenizer).ids.length;

/**
 * Tokens of a record as the trainer will see it: `@lathe/llm`'s `tokenizeExample` (chat template
 * or plain prompt, BOS/EOS). A preference pair counts its longer side, prompt included.
 */
export function countRecordTokens(tokenizer: TextTokenizer, record: CanonicalRecord): number {
  switch (record.type) {
    case 'conversation':
      return chat(tokenizer, record.messages);
    case 'text':
      return tokenizeExample({ kind: 'text', text: record.text }, tokenizer).ids.length;
    case 'preference':
      return Math.max(
        chat(tokenizer, [...record.prompt, ...record.chosen]),
        chat(tokenizer, [...record.prompt, ...record.rejected]),
      );
  }
}
