import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { normalizePreferenceRecord } from '@lathe/llm';
import { describe, expect, it } from 'vitest';
import { detectFormat, normalizeLine } from './record-format.js';

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
    expect(
      normalizeLine({ chosen: 'no markers', rejected }, RecordFormat.RECORD_FORMAT_HH_RLHF),
    ).toMatchObject({ ok: false, fieldPath: 'chosen', reason: /not an HH-RLHF transcript/ });
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

  it('StackExchange question/response_j/response_k', () => {
    const line = { question: 'Why?', response_j: 'Because.', response_k: 'No.', score_j: 9 };
    expect(detectFormat(line)).toBe(RecordFormat.RECORD_FORMAT_STACK_EXCHANGE);
    expect(normalizeLine(line, RecordFormat.RECORD_FORMAT_STACK_EXCHANGE)).toEqual({
      ok: true,
      record: {
        type: 'preference',
        prompt: [user('Why?')],
        chosen: [assistant('Because.')],
        rejected: [assistant('No.')],
      },
      metadata: { score_j: 9 },
    });
  });

  it('reads each layout as the DPO trainer does (one reader, in @lathe/llm)', () => {
    const lines = [
      { prompt: [user('Hi?')], chosen: [assistant('Hello!')], rejected: 'Go away.' },
      { chosen: '\n\nHuman: a?\n\nAssistant: b.', rejected: '\n\nHuman: a?\n\nAssistant: c.' },
      {
        conversations: [{ from: 'human', value: 'Joke?' }],
        chosen: { from: 'gpt', value: 'Knock knock.' },
        rejected: 'No.',
      },
      { question: 'Why?', response_j: 'Because.', response_k: 'No.' },
    ];
    for (const line of lines) {
      const format = detectFormat(line);
      const ours = format === undefined ? undefined : normalizeLine(line, format);
      const trainer = normalizePreferenceRecord(line);
      expect(ours?.ok && trainer.ok).toBe(true);
      if (ours?.ok !== true || !trainer.ok || ours.record.type !== 'preference') continue;
      const example = trainer.example;
      expect(ours.record.chosen).toEqual([assistant(example.chosen)]);
      expect(ours.record.rejected).toEqual([assistant(example.rejected)]);
      expect(ours.record.prompt).toEqual(
        example.kind === 'text' ? [user(example.prompt)] : example.prompt,
      );
    }
    // The same refusal on both sides.
    const bad = { conversations: [{ from: 'gpt', value: 'x' }], chosen: 'a', rejected: 'b' };
    expect(normalizeLine(bad, RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS)).toMatchObject({
      ok: false,
      reason: '"conversations" must end with a human turn',
    });
    expect(normalizePreferenceRecord(bad)).toEqual({
      ok: false,
      reason: '"conversations" must end with a human turn',
    });
  });
});
