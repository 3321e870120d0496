import { Readable } from 'node:stream';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { describe, expect, it } from 'vitest';
import type { StagedRecord } from './ingest-records.js';
import { FormatKindMismatchError, ingestRecords } from './ingest-records.js';
import { jsonlLines } from './jsonl-lines.js';
import { JsonArrayBodyError } from './record-source.js';

function chunksOf(text: string, size: number): AsyncIterable<Uint8Array> {
  const bytes = Buffer.from(text, 'utf8');
  const parts = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  // A stream: each chunk arrives on its own turn, as from a socket.
  return Readable.from(parts, { objectMode: true });
}

async function ingest(
  text: string,
  format: RecordFormat,
  kind = DatasetKind.DATASET_KIND_SFT,
  chunk = 7,
) {
  const staged: StagedRecord[] = [];
  const result = await ingestRecords(chunksOf(text, chunk), {
    format,
    kind,
    maxReported: 2,
    batchSize: 2,
    stage: (batch) => {
      staged.push(...batch);
      return Promise.resolve();
    },
  });
  return { result, staged };
}

describe('jsonlLines', () => {
  it('numbers lines across chunk boundaries, multi-byte characters split between chunks, and CRLF', async () => {
    const text = 'ab\r\n\nçé€\nlast';
    for (const size of [1, 2, 3, 100]) {
      const lines = [];
      for await (const l of jsonlLines(chunksOf(text, size))) lines.push(l);
      expect(lines).toEqual([
        { line: 1, text: 'ab' },
        { line: 2, text: '' },
        { line: 3, text: 'çé€' },
        { line: 4, text: 'last' },
      ]);
    }
  });
});

describe('ingestRecords', () => {
  const good = (i: number): string => JSON.stringify({ instruction: `q${i}`, output: `a${i}` });

  it('keeps good lines, reports bad ones by line number, and the counts add up', async () => {
    const lines = [
      good(1),
      '{oops',
      good(2),
      '',
      '{"instruction": 3, "output": "x"}',
      good(3),
      '[1]',
      good(4),
    ];
    const { result, staged } = await ingest(lines.join('\n'), RecordFormat.RECORD_FORMAT_ALPACA);
    expect(staged.map((s) => s.line)).toEqual([1, 3, 6, 8]);
    expect(result.acceptedCount).toBe(4);
    expect(result.rejectedCount).toBe(3);
    expect(result.acceptedCount + result.rejectedCount).toBe(lines.filter((l) => l !== '').length);
    // Only two are listed (maxReported), in line order, but all three are counted.
    expect(result.rejected.map((r) => [r.line, r.reason])).toEqual([
      [2, expect.stringMatching(/^not valid JSON/)],
      [5, '"instruction" must be a string'],
    ]);
    expect(result.rejected[1]?.fieldPath).toBe('instruction');
    expect(staged[0]?.record).toEqual({
      type: 'conversation',
      messages: [
        { role: 'user', content: 'q1' },
        { role: 'assistant', content: 'a1' },
      ],
    });
  });

  it('detects the format from the first parsable line and rejects lines of another format', async () => {
    const lines = [
      'not json',
      JSON.stringify({
        conversations: [
          { from: 'human', value: 'hi' },
          { from: 'gpt', value: 'hello' },
        ],
      }),
      good(1),
    ];
    const { result, staged } = await ingest(lines.join('\n'), RecordFormat.RECORD_FORMAT_AUTO);
    expect(result.detectedFormat).toBe(RecordFormat.RECORD_FORMAT_SHAREGPT);
    expect(staged.map((s) => s.line)).toEqual([2]);
    expect(result.rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^not valid JSON/),
      'a alpaca record in a sharegpt upload',
    ]);
  });

  it('normalizes the same conversation from chat, ShareGPT and Alpaca to one record id', async () => {
    const chat = JSON.stringify({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    });
    const share = JSON.stringify({
      conversations: [
        { from: 'human', value: 'q' },
        { from: 'gpt', value: 'a' },
      ],
    });
    const alpaca = JSON.stringify({ instruction: 'q', output: 'a' });
    const ids = [];
    for (const [line, format] of [
      [chat, RecordFormat.RECORD_FORMAT_CHAT],
      [share, RecordFormat.RECORD_FORMAT_SHAREGPT],
      [alpaca, RecordFormat.RECORD_FORMAT_ALPACA],
    ] as const)
      ids.push((await ingest(line, format)).staged[0]?.id);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a stated format of the other kind before reading, and rejects such lines under AUTO', async () => {
    await expect(ingest(good(1), RecordFormat.RECORD_FORMAT_HH_RLHF)).rejects.toBeInstanceOf(
      FormatKindMismatchError,
    );
    const pair = JSON.stringify({ prompt: 'p', chosen: 'c', rejected: 'r' });
    const { result } = await ingest(pair, RecordFormat.RECORD_FORMAT_AUTO);
    expect(result.rejected[0]?.reason).toBe(
      'a preference_pairs record cannot go into a sft dataset',
    );
  });
});

describe('JSON array bodies', () => {
  it('numbers each element by the line it starts on; a malformed array fails as a whole', async () => {
    const text = `[\n  {"text": "one"},\n  {"text": ""},\n  {"text": "three"}\n]\n`;
    const { result, staged } = await ingest(text, RecordFormat.RECORD_FORMAT_AUTO);
    expect(staged.map((s) => s.line)).toEqual([2, 4]);
    expect(result.rejected.map((r) => [r.line, r.reason])).toEqual([
      [3, '"text" must be a non-empty string'],
    ]);
    await expect(
      ingest('[{"text": "a"},\n{"text": ', RecordFormat.RECORD_FORMAT_AUTO),
    ).rejects.toBeInstanceOf(JsonArrayBodyError);
  });
});

describe('record metadata', () => {
  it("keeps a line's fields outside its format's content, keys sorted, out of the record id", async () => {
    const pair = { prompt: 'Hi?', chosen: 'Hello.', rejected: 'Go away.' };
    const text = [
      JSON.stringify({ ...pair, weight: 0.5, provenance: { taskId: 't1', agreement: 2 / 3 } }),
      JSON.stringify(pair),
      JSON.stringify({
        id: 7,
        chosen: '\n\nHuman: a\n\nAssistant: b',
        rejected: '\n\nHuman: a\n\nAssistant: c',
      }),
    ].join('\n');
    const auto = await ingest(
      text,
      RecordFormat.RECORD_FORMAT_AUTO,
      DatasetKind.DATASET_KIND_PREFERENCE,
    );
    expect(auto.result.rejectedCount).toBe(1); // HH-RLHF in a preference_pairs upload
    expect(auto.staged.map((s) => s.metadata)).toEqual([
      '{"provenance":{"agreement":0.6666666666666666,"taskId":"t1"},"weight":0.5}',
      '',
    ]);
    expect(auto.staged[0]?.id).toBe(auto.staged[1]?.id);
    const hh = await ingest(
      text.split('\n')[2] ?? '',
      RecordFormat.RECORD_FORMAT_HH_RLHF,
      DatasetKind.DATASET_KIND_PREFERENCE,
    );
    expect(hh.staged.map((s) => s.metadata)).toEqual(['{"id":7}']);
    // Alpaca's `text` rendering and ShareGPT's `system` are content, not metadata.
    const sft = await ingest(
      [
        JSON.stringify({ instruction: 'a', output: 'b', text: 'a b', lang: 'en' }),
        JSON.stringify({ instruction: 'c', output: 'd' }),
      ].join('\n'),
      RecordFormat.RECORD_FORMAT_ALPACA,
    );
    expect(sft.staged.map((s) => s.metadata)).toEqual(['{"lang":"en"}', '']);
  });
});
