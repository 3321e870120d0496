import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Device, LrSchedule, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { describe, expect, it } from 'vitest';
import { CommandArgs } from '../command-args.js';
import { jobSpecFromFlags, parseLabels, run } from './jobs.js';
import { eventText, JobEventRenderer } from './jobs-render.js';

function args(argv: string[]): CommandArgs {
  const spec = Object.fromEntries(
    argv.filter((a) => a.startsWith('--')).map((a) => [a.slice(2), 'string' as const]),
  );
  const parsed = CommandArgs.parse(argv, spec);
  if (parsed === 'help') throw new Error('help');
  return parsed;
}

function sink(): NodeJS.WritableStream & { text: string } {
  const s = {
    text: '',
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WritableStream & { text: string };
}

describe('lathe jobs create flags', () => {
  it('maps flags to a spec and sends nothing the user did not set (the service applies defaults)', () => {
    const spec = jobSpecFromFlags(
      args([
        '--method',
        'lora',
        '--model',
        'stories260k@prod',
        '--dataset',
        'alpaca-tiny@3',
        '--lr',
        '1e-3',
        '--max-steps',
        '20',
        '--batch-size',
        '4',
        '--schedule',
        'linear',
        '--lora-r',
        '4',
        '--lora-targets',
        'q_proj, v_proj',
        '--device',
        'cuda',
        '--output',
        'story-lora',
      ]),
    );
    expect(spec.method).toBe(Method.METHOD_LORA);
    expect(spec.baseModel).toEqual({
      name: 'stories260k',
      selector: { $case: 'alias', alias: 'prod' },
    });
    expect(spec.dataset).toEqual({ dataset: 'alpaca-tiny', version: 3, manifestSha256: '' });
    const h = spec.hyperparameters;
    expect(h?.learningRate).toBe(1e-3);
    expect(h?.length).toEqual({ $case: 'maxSteps', maxSteps: 20 });
    expect(h?.batchSize).toBe(4);
    expect(h?.gradientAccumulationSteps).toBeUndefined();
    expect(h?.maxSeqLength).toBeUndefined();
    expect(h?.schedule).toBe(LrSchedule.LR_SCHEDULE_LINEAR);
    expect(spec.lora?.r).toBe(4);
    expect(spec.lora?.alpha).toBeUndefined();
    expect(spec.lora?.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(spec.resources?.device).toBe(Device.DEVICE_CUDA);
    expect(spec.outputName).toBe('story-lora');
    expect(spec.qlora).toBeUndefined();
    expect(spec.dpo).toBeUndefined();
  });

  it('takes "latest" datasets and a numbered model version; full sends no LoRA settings', () => {
    const spec = jobSpecFromFlags(
      args([
        '--method',
        'full',
        '--model',
        'stories260k@2',
        '--dataset',
        'd@latest',
        '--epochs',
        '0.5',
      ]),
    );
    expect(spec.baseModel?.selector).toEqual({ $case: 'version', version: 2 });
    expect(spec.dataset?.version).toBe(0);
    expect(spec.hyperparameters?.length).toEqual({ $case: 'epochs', epochs: 0.5 });
    expect(spec.lora).toBeUndefined();
  });

  it('refuses contradictory or malformed flags, naming them', () => {
    const base = ['--model', 'm@prod', '--dataset', 'd@1'];
    expect(() => jobSpecFromFlags(args(['--method', 'sft', ...base]))).toThrow(
      '--method must be one of full, lora, qlora, dpo, got "sft"',
    );
    expect(() =>
      jobSpecFromFlags(args(['--method', 'lora', ...base, '--epochs', '1', '--max-steps', '3'])),
    ).toThrow('give --epochs or --max-steps, not both');
    expect(() =>
      jobSpecFromFlags(args(['--method', 'lora', '--model', 'm', '--dataset', 'd@1'])),
    ).toThrow(/--model: "m" must be NAME@VERSION or NAME@ALIAS/);
    expect(() =>
      jobSpecFromFlags(args(['--method', 'lora', ...base, '--batch-size', 'x'])),
    ).toThrow('--batch-size must be an integer, got "x"');
    expect(() => parseLabels('a=1,b')).toThrow('--labels takes K=V,...; got "b"');
    expect(parseLabels('team=support, tier = 2')).toEqual({ team: 'support', tier: '2' });
  });

  it('exits 2 on a usage error before connecting', async () => {
    expect(await run(['create', '--method', 'lora'])).toBe(2);
    expect(await run(['watch'])).toBe(2);
    expect(await run(['explode'])).toBe(2);
  });
});

describe('the job event renderer', () => {
  const progress: JobEvent = {
    sequence: 4,
    jobId: 'j',
    attempt: 1,
    occurredAt: new Date(0),
    event: {
      $case: 'progress',
      progress: {
        step: 5,
        totalSteps: 10,
        epoch: 0.5,
        loss: 2.5,
        evalLoss: 2.75,
        learningRate: 1e-3,
        gradNorm: 1,
        tokensPerSecond: 1234.4,
        eta: { seconds: 75, nanos: 0 },
        tokensSeen: 100,
        rewardAccuracy: undefined,
        rewardMargin: undefined,
      },
    },
  };
  const change = (sequence: number, from: JobState, to: JobState, reason: string): JobEvent => ({
    sequence,
    jobId: 'j',
    attempt: 1,
    occurredAt: new Date(0),
    event: { $case: 'stateChange', stateChange: { from, to, reason, failure: undefined } },
  });

  it('writes one plain line per event, with loss, eval loss and ETA', () => {
    expect(eventText(progress)).toBe(
      '#4 step 5/10  loss 2.5000  eval 2.7500  lr 1.00e-3  1234 tok/s  ETA 1m15s',
    );
    expect(
      eventText(
        change(2, JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_PREPARING, 'attempt 1 taken by w1'),
      ),
    ).toBe('#2 queued -> preparing: attempt 1 taken by w1');
  });

  it('redraws a bar for progress on a terminal and ends it before the next line', () => {
    const out = sink();
    const err = sink();
    const r = new JobEventRenderer('bar', out, err);
    r.render(progress);
    r.render(change(5, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED, 'registered m@1'));
    r.finish();
    expect(err.text).toBe(
      '\r\x1b[2K[############............] step 5/10  loss 2.5000  eval 2.7500  lr 1.00e-3  1234 tok/s  ETA 1m15s\n' +
        '#5 running -> succeeded: registered m@1\n',
    );
    expect(out.text).toBe('');
    expect(r.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('writes JSON Lines in json mode', () => {
    const out = sink();
    const r = new JobEventRenderer('json', out, sink());
    r.render(progress);
    const line = JSON.parse(out.text) as { sequence: number; progress: { loss: number } };
    expect([line.sequence, line.progress.loss]).toEqual([4, 2.5]);
  });
});
