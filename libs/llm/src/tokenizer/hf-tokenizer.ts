import { Tokenizer } from '@huggingface/tokenizers';

/**
 * The part of `@huggingface/tokenizers`' `Tokenizer` this package uses. Declared here because
 * the package's own .d.ts files use extensionless relative imports that do not resolve under
 * NodeNext, so its types arrive as unresolved; this keeps the boundary typed.
 */
export interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}

/** Constructs a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json`. */
export const HfTokenizerClass = Tokenizer as unknown as new (
  tokenizerJson: object,
  config: object,
) => HfTokenizer;
