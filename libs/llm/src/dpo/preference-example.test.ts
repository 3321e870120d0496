import { describe, expect, it } from 'vitest';
import { normalizePreferenceRecord } from './preference-example.js';

describe('normalizePreferenceRecord', () => {
  it('reads prompt/chosen/rejected strings as a text prompt', () => {
    expect(
      normalizePreferenceRecord({ prompt: 'Q', chosen: ' a', rejected: ' b', weight: 0.5 }),
    ).toEqual({
      ok: true,
      format: 'prompt-chosen-rejected',
      example: { kind: 'text', prompt: 'Q', chosen: ' a', rejected: ' b', weight: 0.5 },
    });
  });

  it("reads TRL's conversational form", () => {
    const n = normalizePreferenceRecord({
      prompt: [{ role: 'user', content: 'hi' }],
      chosen: [{ role: 'assistant', content: 'hello' }],
      rejected: [{ role: 'assistant', content: 'go away' }],
    });
    expect(n).toMatchObject({
      ok: true,
      example: { kind: 'chat', chosen: 'hello', rejected: 'go away', weight: 1 },
    });
  });

  it('splits HH-RLHF transcripts at the last shared assistant turn', () => {
    const shared = '\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant:';
    const n = normalizePreferenceRecord({ chosen: `${shared} 6.`, rejected: `${shared} 7.` });
    expect(n).toEqual({
      ok: true,
      format: 'hh-rlhf',
      example: {
        kind: 'chat',
        prompt: [
          { role: 'user', content: 'What is 2+2?' },
          { role: 'assistant', content: '4.' },
          { role: 'user', content: 'And 3+3?' },
        ],
        chosen: '6.',
        rejected: '7.',
        weight: 1,
      },
    });
  });

  it('refuses HH-RLHF transcripts that share nothing before an assistant turn', () => {
    const n = normalizePreferenceRecord({
      chosen: '\n\nHuman: a\n\nAssistant: b',
      rejected: '\n\nHuman: c\n\nAssistant: b',
    });
    expect(n).toEqual({
      ok: false,
      reason: 'chosen and rejected share no prompt ending before an assistant turn',
    });
  });

  it('reads the ShareGPT layout with a system turn', () => {
    const n = normalizePreferenceRecord({
      conversations: [
        { from: 'system', value: 'Be brief.' },
        { from: 'human', value: 'Hi' },
      ],
      chosen: { from: 'gpt', value: 'Hello.' },
      rejected: { from: 'gpt', value: 'Hmm.' },
    });
    expect(n).toMatchObject({
      ok: true,
      format: 'sharegpt',
      example: { prompt: [{ role: 'system' }, { role: 'user', content: 'Hi' }], chosen: 'Hello.' },
    });
  });

  it('reads StackExchange question/response_j/response_k', () => {
    const n = normalizePreferenceRecord({
      question: 'Why?',
      response_j: 'Because.',
      response_k: 'No.',
    });
    expect(n).toMatchObject({
      ok: true,
      format: 'stack-exchange',
      example: { chosen: 'Because.', rejected: 'No.' },
    });
  });

  it.each([
    [[1, 2], 'a preference record must be a JSON object'],
    [
      { prompt: 'q', chosen: 'a', rejected: 'b', weight: 0 },
      '"weight" must be a positive number (got 0)',
    ],
    [
      { prompt: 'q', chosen: 3, rejected: 'b' },
      '"chosen" must be a string or an assistant message',
    ],
    [
      { conversations: [{ from: 'gpt', value: 'x' }], chosen: 'a', rejected: 'b' },
      '"conversations" must end with a human turn',
    ],
    [
      { conversations: [{ from: 'robot', value: 'x' }], chosen: 'a', rejected: 'b' },
      'conversations[0].from: unknown role "robot"',
    ],
    [
      { text: 'x' },
      'unknown layout (expected prompt/chosen/rejected, HH-RLHF chosen/rejected, ShareGPT conversations, or question/response_j/response_k)',
    ],
  ])('refuses %j', (value, reason) => {
    expect(normalizePreferenceRecord(value)).toEqual({ ok: false, reason });
  });
});

describe('agreement weights', () => {
  const snapshotLine = {
    prompt: [{ role: 'user', content: 'Tell a story.' }],
    chosen: [{ role: 'assistant', content: 'Once upon a time.' }],
    rejected: [{ role: 'assistant', content: 'No.' }],
    provenance: { agreement: 0.75, votes: 3, judgements: 4 },
  };
  it("weights a snapshot pair by its annotators' agreement", () => {
    expect(normalizePreferenceRecord(snapshotLine, { agreementWeights: true })).toMatchObject({
      ok: true,
      example: { weight: 0.75 },
    });
    expect(normalizePreferenceRecord(snapshotLine)).toMatchObject({
      ok: true,
      example: { weight: 1 },
    });
  });
  it('refuses a record without agreement when weighting by it', () => {
    expect(
      normalizePreferenceRecord(
        { prompt: 'q', chosen: 'a', rejected: 'b' },
        { agreementWeights: true },
      ),
    ).toEqual({
      ok: false,
      reason:
        '"provenance.agreement" must be a number in (0, 1] to weight by agreement (got undefined)',
    });
  });
});
