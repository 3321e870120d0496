import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from './text-tokenizer.js';
import { ChatTemplate } from './chat-template.js';

const stories = resolve(import.meta.dirname, '../../../../../shared/models/stories260K');
const haveStories = existsSync(stories);
if (!haveStories) console.warn(`skipping tokenizer tests on stories260K: ${stories} is absent`);

describe.skipIf(!haveStories)('TextTokenizer on stories260K', () => {
  it('encodes with BOS and decodes the golden text exactly', async () => {
    const tok = await TextTokenizer.load(stories, 512);
    expect(tok.vocabSize).toBe(512);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    const golden = JSON.parse(await readFile(join(stories, 'golden_greedy_256.json'), 'utf8')) as {
      generated_token_ids: number[];
      decoded_text: string;
    };
    expect(tok.decode(golden.generated_token_ids)).toBe(golden.decoded_text);
    const ids = tok.encode('Once upon a time');
    expect(ids[0]).toBe(1);
    expect(ids.slice(1)).toEqual(golden.generated_token_ids.slice(0, ids.length - 1));
  });

  it('rejects a tokenizer larger than the model vocabulary, naming tokenizer.json', async () => {
    await expect(TextTokenizer.load(stories, 300)).rejects.toThrow(
      `${join(stories, 'tokenizer.json')}: tokenizer vocabulary (512 ids) does not fit the model's vocab_size 300`,
    );
  });

  it('names a malformed tokenizer.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-tok-'));
    await cp(join(stories, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    await writeFile(join(dir, 'tokenizer.json'), '{"model": ');
    await expect(TextTokenizer.load(dir)).rejects.toThrow(
      `${join(dir, 'tokenizer.json')}: not valid JSON`,
    );
  });
});

describe('ChatTemplate', () => {
  it('renders a Jinja template with the Hugging Face variables', () => {
    const source =
      '{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}';
    const t = new ChatTemplate(source, '<s>', '</s>');
    expect(t.render([{ role: 'user', content: 'hi' }], true)).toBe(
      '<s><|user|>hi</s><|assistant|>',
    );
    expect(t.render([{ role: 'user', content: 'hi' }], false)).toBe('<s><|user|>hi</s>');
  });
});
