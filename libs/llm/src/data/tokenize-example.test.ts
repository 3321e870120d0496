import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { tokenizeExample } from './tokenize-example.js';

const MODEL = fileURLToPath(new URL('../../../../../shared/models/stories260K', import.meta.url));
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping prompt-masking tests: ${missing}`);

const trained = (tok: TextTokenizer, r: { ids: number[]; trainMask: boolean[] }): string =>
  tok.decode(
    r.ids.filter((_, i) => r.trainMask[i]),
    true,
  );

describe.skipIf(missing !== '')('tokenizeExample', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('masks the prompt of the plain format and trains on the answer and its EOS', async () => {
    const tok = await TextTokenizer.load(MODEL);
    const r = tokenizeExample(
      {
        kind: 'chat',
        messages: [
          { role: 'user', content: 'Name a color.' },
          { role: 'assistant', content: 'Blue.' },
          { role: 'user', content: 'Another?' },
          { role: 'assistant', content: 'Red.' },
        ],
      },
      tok,
    );
    expect(r.ids[0]).toBe(tok.bosTokenId);
    expect(tok.decode(r.ids, true)).toContain(
      '### Instruction:\nName a color.\n\n### Response:\nBlue.</s>',
    );
    // Decoding may add Metaspace's leading space per piece; compare without whitespace.
    expect(trained(tok, r).replace(/\s+/g, '')).toBe('Blue.</s>Red.</s>');
    // Everything else is prompt, and nothing of the prompt is trained on.
    const prompt = tok
      .decode(
        r.ids.filter((_, i) => !r.trainMask[i]),
        true,
      )
      .replace(/\s+/g, '');
    expect(prompt).toBe(
      '<s>###Instruction:Nameacolor.###Response:###Instruction:Another?###Response:',
    );
  });

  it('trains on all of a plain text record', async () => {
    const tok = await TextTokenizer.load(MODEL);
    const r = tokenizeExample({ kind: 'text', text: 'Once upon a time' }, tok);
    expect(r.trainMask.every(Boolean)).toBe(true);
    expect(r.ids.at(-1)).toBe(tok.eosTokenId);
  });

  it('uses the chat template when the tokenizer has one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-tok-'));
    dirs.push(dir);
    await copyFile(join(MODEL, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const config = JSON.parse(
      await readFile(join(MODEL, 'tokenizer_config.json'), 'utf8'),
    ) as Record<string, unknown>;
    config['chat_template'] =
      "{{ bos_token }}{% for m in messages %}{{ '<' + m['role'] + '>' + m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<assistant>' }}{% endif %}";
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = await TextTokenizer.load(dir);
    const r = tokenizeExample(
      {
        kind: 'chat',
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello there' },
        ],
      },
      tok,
    );
    expect(tok.decode(r.ids, true)).toMatch(
      /^<s> ?<system>Be kind\.<user>Hi<assistant>Hello there<\/s>$/,
    );
    expect(trained(tok, r).trim()).toBe('Hello there</s>');
  });
});
