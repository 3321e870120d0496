import { describe, expect, it } from 'vitest';
import { normalizeSftRecord } from './sft-example.js';

describe('normalizeSftRecord', () => {
  it('normalizes the four formats to one canonical form', () => {
    const alpaca = normalizeSftRecord({
      instruction: 'Add',
      input: '2+2',
      output: '4',
      text: 'ignored',
    });
    expect(alpaca).toEqual({
      ok: true,
      format: 'alpaca',
      example: {
        kind: 'chat',
        messages: [
          { role: 'user', content: 'Add\n\n2+2' },
          { role: 'assistant', content: '4' },
        ],
      },
    });
    const sharegpt = normalizeSftRecord({
      system: 'Be brief.',
      conversations: [
        { from: 'human', value: 'hi' },
        { from: 'gpt', value: 'hello' },
      ],
    });
    expect(sharegpt.ok && sharegpt.example).toEqual({
      kind: 'chat',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    const openai = normalizeSftRecord({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
        { role: 'assistant', content: 'c' },
      ],
    });
    expect(openai.ok && openai.format).toBe('openai');
    expect(openai.ok && openai.example.kind === 'chat' && openai.example.messages[0]?.content).toBe(
      'ab',
    );
    expect(normalizeSftRecord({ text: 'once upon' })).toEqual({
      ok: true,
      format: 'text',
      example: { kind: 'text', text: 'once upon' },
    });
  });

  it('explains what is wrong with a bad record', () => {
    const reason = (r: unknown): string => {
      const n = normalizeSftRecord(r);
      return n.ok ? 'ok' : n.reason;
    };
    expect(reason([1])).toBe('a record must be a JSON object');
    expect(reason({ messages: 'x' })).toBe('"messages" must be an array');
    expect(reason({ messages: [{ role: 'tool', content: 'x' }] })).toMatch(/messages\[0\]\.role/);
    expect(reason({ messages: [{ role: 'user', content: 'x' }] })).toMatch(
      /no non-empty assistant/,
    );
    expect(reason({ conversations: [{ from: 'alien', value: 'x' }] })).toMatch(
      /not a known speaker/,
    );
    expect(reason({ instruction: 'x' })).toBe('"output" must be a string');
    expect(reason({ foo: 1 })).toMatch(/unknown format/);
  });
});
