import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../config/model-file-error.js';
import { ChatTemplate, type ChatMessage } from './chat-template.js';
import { HfTokenizerClass, type HfTokenizer } from './hf-tokenizer.js';

/** Options for {@link TextTokenizer.encode}. */
export interface EncodeOptions {
  /** Add the tokenizer's special tokens (BOS for Llama) as its post-processor says. Default true. */
  readonly addSpecialTokens?: boolean;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) with the model's chat
 * template, if it has one.
 */
export class TextTokenizer {
  /** Number of ids the tokenizer can produce (highest id + 1, added tokens included). */
  readonly vocabSize: number;
  /** Beginning-of-sequence id, when the tokenizer names one. */
  readonly bosTokenId: number | undefined;
  /** End-of-sequence id, when the tokenizer names one. */
  readonly eosTokenId: number | undefined;
  /** The chat template, when tokenizer_config.json carries one. */
  readonly chatTemplate: ChatTemplate | undefined;

  private constructor(
    private readonly tokenizer: HfTokenizer,
    config: Record<string, unknown>,
  ) {
    let maxId = -1;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const bos = tokenText(config['bos_token']);
    const eos = tokenText(config['eos_token']);
    this.bosTokenId = bos === undefined ? undefined : tokenizer.token_to_id(bos);
    this.eosTokenId = eos === undefined ? undefined : tokenizer.token_to_id(eos);
    const template = config['chat_template'];
    this.chatTemplate =
      typeof template === 'string' ? new ChatTemplate(template, bos ?? '', eos ?? '') : undefined;
  }

  /**
   * Loads `tokenizer.json` and `tokenizer_config.json` (optional) from a model directory.
   *
   * @param dir model directory
   * @param modelVocabSize when given, the tokenizer must not produce ids at or above it
   * @throws ModelFileError naming the file that is missing, malformed or mismatched
   */
  static async load(dir: string, modelVocabSize?: number): Promise<TextTokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const configPath = join(dir, 'tokenizer_config.json');
    const json = await readJson(tokenizerPath, true);
    const config = (await readJson(configPath, false)) ?? {};
    let tokenizer: HfTokenizer;
    try {
      tokenizer = new HfTokenizerClass(json ?? {}, config);
    } catch (cause) {
      throw new ModelFileError(tokenizerPath, `unusable tokenizer: ${(cause as Error).message}`, {
        cause,
      });
    }
    const out = new TextTokenizer(tokenizer, config);
    if (modelVocabSize !== undefined && out.vocabSize > modelVocabSize) {
      throw new ModelFileError(
        tokenizerPath,
        `tokenizer vocabulary (${out.vocabSize} ids) does not fit the model's vocab_size ${modelVocabSize}`,
      );
    }
    return out;
  }

  /** Text to token ids. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true })
      .ids;
  }

  /** Token ids to text; special tokens are dropped unless `keepSpecial`. */
  decode(ids: readonly number[], keepSpecial = false): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: !keepSpecial });
  }

  /** The id of a token string, if it is in the vocabulary. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * Renders messages with the chat template and encodes the result without adding special
   * tokens again (the template writes BOS itself where the model wants it).
   *
   * @throws Error when the tokenizer has no chat template
   */
  encodeChat(messages: readonly ChatMessage[], addGenerationPrompt: boolean): number[] {
    if (!this.chatTemplate) throw new Error('tokenizer_config.json has no chat_template');
    return this.encode(this.chatTemplate.render(messages, addGenerationPrompt), {
      addSpecialTokens: false,
    });
  }
}

/** Special tokens in tokenizer_config.json are a string or an AddedToken object. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

async function readJson(
  path: string,
  required: boolean,
): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelFileError(path, `cannot read: ${(cause as Error).message}`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ModelFileError(path, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelFileError(path, 'not a JSON object');
  }
  return parsed as Record<string, unknown>;
}
