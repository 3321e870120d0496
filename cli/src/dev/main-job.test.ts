import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTraces } from '../commands/dev.js';
import {
  describeJobEvent,
  jsonLines,
  newRunTrace,
  promptsOf,
  scriptedChoice,
  trainingJobSpec,
} from './main-job.js';

const dir = mkdtempSync(join(tmpdir(), 'lathe-main-job-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const candidate = (content: string) => ({ id: '', source: '', messages: [{ role: 2, content }] });

describe('the scripted annotators rule', () => {
  it('prefers the larger share of distinct words, then the shorter text, then A', () => {
    const repetitive = candidate('the cat the cat the cat');
    const varied = candidate('a small cat sat down');
    expect(scriptedChoice({ candidateA: repetitive, candidateB: varied })).toBe(Choice.CHOICE_B);
    expect(scriptedChoice({ candidateA: varied, candidateB: repetitive })).toBe(Choice.CHOICE_A);
    // Both all distinct: the shorter wins.
    expect(
      scriptedChoice({
        candidateA: candidate('one two three four'),
        candidateB: candidate('one two'),
      }),
    ).toBe(Choice.CHOICE_B);
    expect(scriptedChoice({ candidateA: candidate('same'), candidateB: candidate('same') })).toBe(
      Choice.CHOICE_A,
    );
  });
});

describe('data files', () => {
  it('turns a JSON array into JSON lines and keeps JSONL as it is', async () => {
    const array = join(dir, 'a.json');
    writeFileSync(array, '[{"instruction":"Say hi","input":"","output":"hi"},{"text":"t"}]');
    expect((await jsonLines(array)).toString()).toBe(
      '{"instruction":"Say hi","input":"","output":"hi"}\n{"text":"t"}\n',
    );
    const jsonl = join(dir, 'b.jsonl');
    writeFileSync(jsonl, '{"instruction":"A","input":"x"}\n\n{"instruction":"B"}\n');
    expect((await jsonLines(jsonl)).toString()).toBe(
      '{"instruction":"A","input":"x"}\n\n{"instruction":"B"}\n',
    );
    expect(await promptsOf(jsonl, 5)).toEqual(['A\nx', 'B']);
    expect(await promptsOf(array, 1)).toEqual(['Say hi']);
  });
});

describe('run trace and jobs', () => {
  it('makes a sampled W3C traceparent around a fresh trace id', () => {
    const a = newRunTrace();
    expect(a.traceparent).toMatch(new RegExp(`^00-${a.traceId}-[0-9a-f]{16}-01$`));
    expect(newRunTrace().traceId).not.toBe(a.traceId);
  });

  it('builds a LoRA spec naming base version, dataset, steps and output', () => {
    const spec = trainingJobSpec({
      method: Method.METHOD_DPO,
      base: { name: 'b', version: 3, manifestSha256: 'x' },
      dataset: { dataset: 'd', version: 2, manifestSha256: 'y' },
      maxSteps: 7,
      maxSeqLength: 64,
      learningRate: 1e-3,
      outputName: 'out',
    });
    expect(spec.method).toBe(Method.METHOD_DPO);
    expect(spec.baseModel).toEqual({ name: 'b', selector: { $case: 'version', version: 3 } });
    expect(spec.hyperparameters?.length).toEqual({ $case: 'maxSteps', maxSteps: 7 });
    expect(spec.outputName).toBe('out');
  });

  it('describes job events in one line', () => {
    const base = { sequence: 4, jobId: 'j', attempt: 1, occurredAt: undefined };
    expect(
      describeJobEvent({
        ...base,
        event: {
          $case: 'stateChange',
          stateChange: {
            from: JobState.JOB_STATE_QUEUED,
            to: JobState.JOB_STATE_RUNNING,
            reason: '',
            failure: undefined,
          },
        },
      }),
    ).toBe('running attempt 1');
  });
});

describe('--traces', () => {
  it('is off by default, otlp with an endpoint, and a file path when asked', () => {
    expect(parseTraces(undefined, {})).toBeUndefined();
    expect(parseTraces(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toEqual({
      exporter: 'otlp',
    });
    expect(parseTraces('console', {})).toEqual({ exporter: 'console' });
    expect(parseTraces('file:/tmp/s.jsonl', {})).toEqual({
      exporter: 'file',
      file: '/tmp/s.jsonl',
    });
    expect(() => parseTraces('file:', {})).toThrow(/--traces/);
    expect(() => parseTraces('zipkin', {})).toThrow(/--traces/);
  });
});
