import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../tokenizer/text-tokenizer.js';
import { loadPreferenceData } from './load-preference-data.js';
import type { PreferenceExample } from './preference-example.js';
import { createPairLimits, tokenizePairs } from './tokenize-pairs.js';

const shared = resolve(import.meta.dirname, '../../../../../shared');
const stories = resolve(shared, 'models/stories260K');
const sharegpt = resolve(shared, 'data/preference/dpo_sharegpt_300.json');
const skip = existsSync(stories) && existsSync(sharegpt) ? '' : `${shared} is absent`;
if (skip) console.warn(`skipping pair tokenization tests: ${skip}`);

const text = (prompt: string, chosen: string, rejected: string): PreferenceExample => ({
  kind: 'text',
  prompt,
  chosen,
  rejected,
  weight: 1,
});

describe.skipIf(skip !== '')('tokenizePairs (stories260K tokenizer)', () => {
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.load(stories);
  });

  it('shares one prompt between the rows and ends responses with EOS', () => {
    const { pairs, report } = tokenizePairs(
      [text('Once upon a time, there was a cat.', ' The cat was happy.', ' cat The happy. was')],
      tokenizer,
      createPairLimits(),
    );
    expect(report).toMatchObject({ kept: 1, skipped: [] });
    const [pair] = pairs;
    expect(pair?.prompt[0]).toBe(tokenizer.bosTokenId);
    expect(pair?.chosen.at(-1)).toBe(tokenizer.eosTokenId);
    expect(pair?.rejected.at(-1)).toBe(tokenizer.eosTokenId);
    const whole = tokenizer.encode('Once upon a time, there was a cat. The cat was happy.');
    expect([...(pair?.prompt ?? []), ...(pair?.chosen ?? [])]).toEqual([
      ...whole,
      tokenizer.eosTokenId,
    ]);
  });

  it('counts empty, identical and over-long pairs instead of dropping them silently', () => {
    const long = 'The dog ran and ran. '.repeat(20);
    const examples = [
      text('A', ' ', ' b'),
      text('A', ' same', ' same'),
      text(long, ' yes', ' no'),
      text(
        'Tom had a ball.',
        ' He liked it very much and played all day with his friends in the big green park near the river.',
        ' No.',
      ),
    ];
    const limits = { maxPromptLength: 16, maxLength: 24 };
    const skipped = tokenizePairs(
      examples,
      tokenizer,
      createPairLimits({ ...limits, longPrompt: 'skip' }),
    );
    expect(skipped.report).toEqual({
      kept: 1,
      skipped: [
        { index: 0, reason: 'empty response' },
        { index: 1, reason: 'identical responses' },
        { index: 2, reason: 'prompt too long' },
      ],
      emptyResponse: 1,
      identicalResponses: 1,
      promptTooLong: 1,
      promptTruncated: 0,
      responseTruncated: 1,
    });
    expect(skipped.sources).toEqual([3]);
    const kept = skipped.pairs[0];
    expect((kept?.prompt.length ?? 0) + (kept?.chosen.length ?? 0)).toBe(24);
    const truncated = tokenizePairs(examples, tokenizer, createPairLimits(limits));
    expect(truncated.report).toMatchObject({ kept: 2, promptTooLong: 0, promptTruncated: 1 });
    const cut = truncated.pairs[0];
    expect(cut?.prompt).toHaveLength(16);
    expect(cut?.prompt[0]).toBe(tokenizer.bosTokenId);
    // keep_end: the prompt's last tokens, the ones next to the response, survive.
    const full = tokenizer.encode(long.trimEnd(), { addSpecialTokens: false });
    expect(cut?.prompt.slice(1)).toEqual(
      tokenizer.encode(long, { addSpecialTokens: false }).slice(-15),
    );
    expect(full.length).toBeGreaterThan(16);
  });

  it("renders chat prompts with the tokenizer's chat template when it has one", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-dpo-template-'));
    try {
      await copyFile(join(stories, 'tokenizer.json'), join(dir, 'tokenizer.json'));
      const config = JSON.parse(
        await readFile(join(stories, 'tokenizer_config.json'), 'utf8'),
      ) as object;
      const template =
        '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}' +
        '{% if add_generation_prompt %}[assistant] {% endif %}';
      await writeFile(
        join(dir, 'tokenizer_config.json'),
        JSON.stringify({ ...config, chat_template: template }),
      );
      const templated = await TextTokenizer.load(dir);
      const { pairs } = tokenizePairs(
        [
          {
            kind: 'chat',
            prompt: [{ role: 'user', content: 'Hi Tom' }],
            chosen: 'Hello Lily',
            rejected: 'Go',
            weight: 1,
          },
        ],
        templated,
        createPairLimits(),
      );
      const [pair] = pairs;
      expect(templated.decode(pair?.prompt ?? [], true)).toMatch(
        /^<s> ?\[user\] Hi Tom<\/s> ?\[assistant\]/,
      );
      expect(templated.decode(pair?.chosen ?? [], true)).toMatch(/Hello Lily<\/s>$/);
      expect(templated.decode(pair?.rejected ?? [], true)).toMatch(/Go<\/s>$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses limits that leave no room for a response', () => {
    expect(() => createPairLimits({ maxPromptLength: 32, maxLength: 32 })).toThrow(
      'max-length: must be an integer above max-prompt-length 32 (got 32)',
    );
  });

  it('reads the ShareGPT sample and reports what the limits did', async () => {
    const data = await loadPreferenceData(sharegpt);
    expect(data.examples).toHaveLength(300);
    expect(data.formats.get('sharegpt')).toBe(300);
    const { report, pairs } = tokenizePairs(data.examples, tokenizer, createPairLimits());
    expect(report.kept + report.skipped.length).toBe(300);
    expect(pairs.every((p) => p.prompt.length <= 256)).toBe(true);
    expect(
      pairs.every((p) => p.prompt.length + Math.max(p.chosen.length, p.rejected.length) <= 512),
    ).toBe(true);
    console.info(
      `dpo_sharegpt_300 with stories260K's tokenizer: ${JSON.stringify({ ...report, skipped: report.skipped.length })}`,
    );
  });
});
