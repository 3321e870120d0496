import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { describe, expect, it } from 'vitest';
import { detectFormat, normalizeLine } from './record-format.js';
import { parseHhTranscript } from './preference-record.js';

const user = (content: string) => ({ role: 'user', content });
const assistant = (content: string) => ({ role: 'assistant', content });

describe('preference formats', () => {
  it('prompt/chosen/rejected as strings or message lists', () => {
    const strings = normalizeLine(
      { prompt: 'Hi?', chosen: 'Hello!', rejected: 'Go away.' },
      RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
    );
    expect(strings).toEqual({
      ok: true,
      record: {
        type: 'preference',
        prompt: [user('Hi?')],
        chosen: [assistant('Hello!')],
        rejected: [assistant('Go away.')],
      },
    });
    const lists = normalizeLine(
      {
        prompt: [{ role: 'system', content: 's' }, user('Hi?')],
        chosen: [assistant('Hello!')],
        rejected: [assistant('No.')],
      },
      RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
    );
    expect(lists.ok && lists.record.type === 'preference' && lists.record.prompt).toHaveLength(2);
    expect(
      normalizeLine(
        { prompt: 'p', chosen: 'same', rejected: 'same' },
        RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
      ),
    ).toEqual({
      ok: false,
      reason: '"chosen" and "rejected" are identical',
      fieldPath: 'rejected',
    });
    expect(
      normalizeLine(
        { prompt: 'p', chosen: [{ role: 'bot', content: 'x' }], rejected: 'r' },
        RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
      ),
    ).toMatchObject({
      ok: false,
      fieldPath: 'chosen[0].role',
    });
  });

  it('HH-RLHF: the shared turns up to the last Human turn are the prompt', () => {
    const chosen = '\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: 6.';
    const rejected =
      '\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: 7, I think.';
    expect(normalizeLine({ chosen, rejected }, RecordFormat.RECORD_FORMAT_HH_RLHF)).toEqual({
      ok: true,
      record: {
        type: 'preference',
        prompt: [user('What is 2+2?'), assistant('4.'), user('And 3+3?')],
        chosen: [assistant('6.')],
        rejected: [assistant('7, I think.')],
      },
    });
    expect(parseHhTranscript('no markers')).toMatch(/has no/);
    expect(
      normalizeLine({ chosen: 'x', rejected: chosen }, RecordFormat.RECORD_FORMAT_HH_RLHF),
    ).toMatchObject({ ok: false, fieldPath: 'chosen' });
  });

  it('ShareGPT pairs: conversations are the prompt, chosen/rejected turns the continuations', () => {
    const line = {
      conversations: [{ from: 'human', value: 'Tell a joke' }],
      chosen: { from: 'gpt', value: 'Why did the chicken...' },
      rejected: { from: 'gpt', value: 'No.' },
    };
    expect(detectFormat(line)).toBe(RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS);
    expect(normalizeLine(line, RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS)).toEqual({
      ok: true,
      record: {
        type: 'preference',
        prompt: [user('Tell a joke')],
        chosen: [assistant('Why did the chicken...')],
        rejected: [assistant('No.')],
      },
    });
  });

  it('detects every layout by its keys', () => {
    expect(detectFormat({ prompt: 'p', chosen: 'c', rejected: 'r' })).toBe(
      RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
    );
    expect(detectFormat({ chosen: 'c', rejected: 'r' })).toBe(RecordFormat.RECORD_FORMAT_HH_RLHF);
    expect(detectFormat({ messages: [] })).toBe(RecordFormat.RECORD_FORMAT_CHAT);
    expect(detectFormat({ conversations: [] })).toBe(RecordFormat.RECORD_FORMAT_SHAREGPT);
    expect(detectFormat({ instruction: 'i', output: 'o' })).toBe(RecordFormat.RECORD_FORMAT_ALPACA);
    expect(detectFormat({ text: 't' })).toBe(RecordFormat.RECORD_FORMAT_TEXT);
    expect(detectFormat({ other: 1 })).toBeUndefined();
    expect(DatasetKind.DATASET_KIND_PREFERENCE).toBe(2);
  });
});
