import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CurationSpec, PiiAction } from '@lathe/contracts/lathe/datasets/v1/curation';
import { SeededRandom } from '@lathe/llm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CanonicalRecord } from './canonical-record.js';
import { recordId, recordText } from './canonical-record.js';
import type { KeptRecord, Removal, SourceRecord } from './curate-records.js';
import { curateRecords, removalOf } from './curate-records.js';
import type { CurationOptions } from './curation-options.js';
import { resolveCurationOptions } from './curation-options.js';
import { lshBands, MinHasher } from './minhash.js';
import { judgeRecord } from './record-verdict.js';
import { InMemorySignatures, MinHashLshIndex } from './test-support/in-memory-lsh-index.js';

let parent: string;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), 'curate-test-'));
});
afterEach(() => {
  rmSync(parent, { recursive: true, force: true });
});

function chat(question: string, answer: string): CanonicalRecord {
  return {
    type: 'conversation',
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: answer },
    ],
  };
}

/**
 * Chats of 40 words from 2,000, with exact copies and one-word variants of earlier records (of
 * any earlier record: kept, removed or filtered), empty turns, junk runs and e-mail addresses.
 */
function corpus(count: number, seed: number): SourceRecord[] {
  const random = SeededRandom.fromSeed(seed);
  const next = (): number => random.nextFloat();
  const words = (n: number): string[] =>
    Array.from({ length: n }, () => `w${Math.floor(next() * 2000)}`);
  const out: CanonicalRecord[] = [];
  for (let i = 0; i < count; i++) {
    const roll = next();
    const earlier = out[Math.floor(next() * out.length)];
    let record: CanonicalRecord;
    if (roll < 0.06 && earlier !== undefined) record = earlier;
    else if (roll < 0.12 && earlier?.type === 'conversation') {
      const answer = (earlier.messages[1]?.content ?? '').split(' ');
      answer[Math.floor(next() * answer.length)] = `variant${i}`;
      record = chat(earlier.messages[0]?.content ?? '', answer.join(' '));
    } else if (roll < 0.15) record = chat(words(6).join(' '), '  ');
    else if (roll < 0.17)
      record = chat(words(6).join(' '), `${words(30).join(' ')} ${'z'.repeat(90)}`);
    else if (roll < 0.2)
      record = chat(words(6).join(' '), `mail me at u${i}@example.com ${words(30).join(' ')}`);
    else record = chat(words(6).join(' '), words(40).join(' '));
    out.push(record);
  }
  return out.map((record, i) => ({ id: recordId(record), record, uploadId: 'u', line: i + 1 }));
}

function optionsOf(spec: Partial<CurationSpec>): CurationOptions {
  return resolveCurationOptions(CurationSpec.fromPartial(spec));
}

const FULL = optionsOf({
  dedupeExact: true,
  dropEmptyTurns: true,
  nearDuplicates: { jaccardThreshold: 0.8, shingleSize: 3, numPermutations: 64, seed: 3 },
  junk: {},
  pii: { action: PiiAction.PII_ACTION_REDACT, kinds: [] },
  split: { evalFraction: 0.2, seed: 5 },
});

/**
 * The streaming decision curation reproduces, written the direct way: an in-memory set of kept
 * ids and an in-memory LSH index of kept signatures, consulted record by record.
 */
function streamingReference(
  records: readonly SourceRecord[],
  options: CurationOptions,
): { removals: Removal[]; kept: string[] } {
  const keptIds = new Set<string>();
  const near = options.nearDuplicates;
  const hasher = near === undefined ? undefined : new MinHasher(near);
  const index =
    near === undefined
      ? undefined
      : new MinHashLshIndex(near.threshold, near.numPermutations, new InMemorySignatures());
  const removals: Removal[] = [];
  const kept: string[] = [];
  for (const source of records) {
    const text = recordText(source.record);
    if (options.dedupeExact && keptIds.has(source.id)) {
      removals.push(
        removalOf(source, 'exact_duplicate', 'identical to an earlier record', source.id, 1),
      );
      continue;
    }
    const sig = hasher?.signature(text);
    const match = sig === undefined ? undefined : index?.query(sig);
    if (match !== undefined) {
      const detail = `estimated Jaccard ${match.similarity.toFixed(3)} >= ${near?.threshold}`;
      removals.push(removalOf(source, 'near_duplicate', detail, match.key, match.similarity));
      continue;
    }
    const verdict = judgeRecord(source.record, options, undefined);
    if (!verdict.passed) {
      removals.push(removalOf(source, verdict.reason, verdict.detail));
      continue;
    }
    keptIds.add(source.id);
    if (sig !== undefined) index?.add(source.id, sig);
    kept.push(
      `${source.line}:${verdict.redacted === undefined ? source.id : recordId(verdict.redacted)}`,
    );
  }
  return { removals, kept };
}

async function curate(
  records: readonly SourceRecord[],
  options: CurationOptions,
  resources: Parameters<typeof curateRecords>[4] = {},
): Promise<{
  outcome: Awaited<ReturnType<typeof curateRecords>>;
  kept: KeptRecord[];
  removals: Removal[];
}> {
  const kept: KeptRecord[] = [];
  const outcome = await curateRecords(
    Readable.from(records),
    options,
    (k) => {
      kept.push(k);
    },
    undefined,
    { tempDir: parent, ...resources },
  );
  const removals: Removal[] = [];
  for await (const r of outcome.removals.read()) removals.push(r);
  const counts: Record<string, number> = {};
  for (const r of removals) counts[r.reason] = (counts[r.reason] ?? 0) + 1;
  expect(outcome.removals.counts()).toEqual(counts);
  outcome.removals.close();
  return { outcome, kept, removals };
}

describe('curateRecords in external memory', () => {
  const records = corpus(4000, 11);

  for (const [name, options] of [
    ['exact and near dedupe, filters, redaction, split', FULL],
    ['near dedupe without exact dedupe', { ...FULL, dedupeExact: false }],
    ['exact dedupe only', { ...FULL, nearDuplicates: undefined }],
  ] as const)
    it(`decides as the streaming in-memory index does (${name}), whatever the memory budget`, async () => {
      const expected = streamingReference(records, options);
      const reasons = new Set(expected.removals.map((r) => r.reason));
      expect(reasons.size).toBeGreaterThanOrEqual(options.nearDuplicates === undefined ? 2 : 3);

      const roomy = await curate(records, options);
      // 64 KiB: runs of a few thousand entries, so every sort spills and merges.
      const tight = await curate(records, options, { memoryBytes: 64 * 1024 });
      expect(roomy.outcome.work.sortRuns).toBe(0);
      expect(tight.outcome.work.sortRuns).toBeGreaterThan(4);
      for (const { outcome, kept, removals } of [roomy, tight]) {
        expect(removals).toEqual(expected.removals);
        expect(outcome.removals.size).toBe(removals.length);
        expect(kept.map((k) => `${k.source.line}:${k.id}`)).toEqual(expected.kept);
        expect(outcome.inputCount).toBe(records.length);
      }
      expect(tight.outcome.train).toEqual(roomy.outcome.train);
      expect(tight.outcome.eval).toEqual(roomy.outcome.eval);
      expect(tight.kept.map((k) => k.split)).toEqual(roomy.kept.map((k) => k.split));
      expect(readdirSync(parent)).toEqual([]);
    });

  it('keeps a bucket of thousands of near-identical records linear and still removes them', async () => {
    const base = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const template = Array.from({ length: 3000 }, (_, i) => {
      const words = [...base];
      words[39] = `n${i}`; // any two differ in their last word only: Jaccard 37/39
      const record = chat('same question', words.join(' '));
      return { id: recordId(record), record, uploadId: 'u', line: i + 1 };
    });
    const options = optionsOf({
      nearDuplicates: { jaccardThreshold: 0.8, shingleSize: 3, numPermutations: 64, seed: 3 },
    });
    const { bands } = lshBands(64, 0.8);
    const { outcome, kept, removals } = await curate(template, options, {
      maxAnchorsPerBucket: 4,
    });
    // Without the cap a bucket of m records gives m²/2 pairs; with it, at most 4 per record and band.
    expect(outcome.work.candidatePairs).toBeLessThanOrEqual(template.length * bands * 4);
    expect(outcome.work.cappedBuckets).toBeGreaterThan(0);
    // The first record anchors every bucket, so the cap loses nothing here.
    expect(kept.map((k) => k.source.line)).toEqual([1]);
    expect(removals).toEqual(streamingReference(template, options).removals);
  });

  it('removes its temporary files when the sink fails and when the call is cancelled', async () => {
    await expect(
      curateRecords(
        Readable.from(records),
        FULL,
        () => Promise.reject(new Error('sink broke')),
        undefined,
        {
          tempDir: parent,
        },
      ),
    ).rejects.toThrow('sink broke');
    expect(readdirSync(parent)).toEqual([]);
    const controller = new AbortController();
    controller.abort(new Error('caller went away'));
    await expect(
      curateRecords(Readable.from(records), FULL, () => undefined, undefined, {
        tempDir: parent,
        signal: controller.signal,
      }),
    ).rejects.toThrow('caller went away');
    expect(readdirSync(parent)).toEqual([]);
  });

  it('refuses a memory budget below 64 KiB', async () => {
    await expect(curate(records.slice(0, 10), FULL, { memoryBytes: 1000 })).rejects.toThrow(
      /at least 64 KiB/,
    );
  });
});
