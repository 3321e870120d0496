import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { prepareSftRows } from './sft-rows.js';

const MODEL = fileURLToPath(new URL('../../../../../shared/models/stories260K', import.meta.url));
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping prepareSftRows tests: ${missing}`);

describe.skipIf(missing !== '')('prepareSftRows', () => {
  let dir = '';
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('reports a conversation the chat template refuses with its line, or counts it when skipping', async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-rows-'));
    await copyFile(join(MODEL, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const config = JSON.parse(
      await readFile(join(MODEL, 'tokenizer_config.json'), 'utf8'),
    ) as Record<string, unknown>;
    // Like many real templates: refuse a conversation that does not start with the user.
    config['chat_template'] =
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('conversations must start with the user') }}{% endif %}" +
      "{% for m in messages %}{{ '<' + m['role'] + '>' + m['content'] }}{% endfor %}";
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tokenizer = await TextTokenizer.load(dir);
    const data = join(dir, 'chat.jsonl');
    const ok = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    };
    const bad = { messages: [{ role: 'assistant', content: 'I start' }] };
    await writeFile(data, `${JSON.stringify(ok)}\n${JSON.stringify(bad)}\n`);
    const options = { seqLen: 64, pack: true, skipBadRecords: false };
    await expect(prepareSftRows(data, tokenizer, options)).rejects.toThrow(
      `${data}: line 2: cannot apply the chat template`,
    );
    const skipped = await prepareSftRows(data, tokenizer, { ...options, skipBadRecords: true });
    expect(skipped.examples).toBe(1);
    expect(skipped.rejected.map((r) => r.line)).toEqual([2]);
  });
});
