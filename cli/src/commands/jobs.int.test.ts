// `lathe jobs` against a real training service started in this process (startTrainingService,
// the composition `lathe dev` uses) on PGlite and the in-process bus; a trainer's state changes
// are driven through the store's fenced worker methods.
import { InProcessBroker } from '@lathe/bus';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { JobSpec, Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import { readServiceSettings } from '@lathe/service-kit';
import {
  connectDownstream,
  openJobStore,
  startTrainingService,
  type OpenedJobStore,
  type RunningTrainingService,
} from '@lathe/training';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandRun } from '../../test/service-command.js';
import { run } from './jobs.js';

let opened: OpenedJobStore;
let service: RunningTrainingService;
let address: string;
const downstream = connectDownstream({
  registry: '127.0.0.1:1',
  datasets: '127.0.0.1:1',
  quantization: '127.0.0.1:1',
});

const lathe = (argv: string[]): Promise<CommandRun> =>
  runCommand(run, [...argv, '--training', address]);

async function recordJob(label: string): Promise<string> {
  const { job } = await opened.store.createJob({
    spec: JobSpec.fromPartial({
      method: Method.METHOD_LORA,
      baseModel: { name: 'stories260k', selector: { $case: 'alias', alias: 'prod' } },
      dataset: { dataset: 'alpaca-tiny', version: 1 },
    }),
    displayName: label,
    creator: '',
    labels: { suite: 'cli' },
    baseModel: { name: 'stories260k', version: 1, manifestSha256: 'a'.repeat(64) },
    dataset: { dataset: 'alpaca-tiny', version: 1, manifestSha256: 'b'.repeat(64) },
    idempotencyKey: '',
    requestSha256: '',
    trace: { traceparent: '', tracestate: '' },
    maxAttempts: 3,
  });
  return job.id;
}

describe('lathe jobs on a running training service', () => {
  beforeAll(async () => {
    opened = await openJobStore('pglite:memory');
    service = await startTrainingService({
      store: opened.store,
      bus: new InProcessBroker().connect(),
      models: downstream.models,
      datasets: downstream.datasets,
      quantizer: downstream.quantizer,
      watchPollMs: 50,
      settings: readServiceSettings('training', 0, {
        LATHE_AUTH_MODE: 'none',
        LATHE_GRPC_HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
      }),
    });
    address = `127.0.0.1:${String(service.port)}`;
  }, 60_000);
  afterAll(async () => {
    await service.stop(500);
    downstream.close();
    await opened.close();
  });

  it('create: a bad spec is refused with every bad field, exit 1', async () => {
    const r = await lathe([
      'create',
      '--method',
      'lora',
      '--model',
      'stories260k@prod',
      '--dataset',
      'alpaca-tiny@1',
      '--lr=-1',
      '--lora-r',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('spec.hyperparameters.learningRate: must be in (0, 1], got -1');
    expect(r.err).toContain('spec.lora.r: must be an integer in [1, 4096], got 0');
  });

  it('watch: follows a job from its history to the end, one line per event, exit 0 on success', async () => {
    const id = await recordJob('watched');
    const watching = lathe(['watch', id]);
    const begun = await opened.store.beginAttempt(id, 'cli-test', {});
    if (!begun.started) throw new Error(begun.message);
    await opened.store.setState(id, begun.attempt, JobState.JOB_STATE_RUNNING);
    await opened.store.recordProgress(id, begun.attempt, {
      step: 3,
      totalSteps: 6,
      epoch: 0.5,
      loss: 1.25,
      evalLoss: undefined,
      learningRate: 2e-4,
      gradNorm: 0.5,
      tokensPerSecond: 900,
      eta: { seconds: 30, nanos: 0 },
      tokensSeen: 300,
      rewardAccuracy: undefined,
      rewardMargin: undefined,
    });
    await opened.store.finishAttempt(id, begun.attempt, 'succeeded', {
      result: { name: 'stories260k-lora', version: 1, manifestSha256: '' },
    });
    const r = await watching;
    expect(r.code).toBe(0);
    expect(r.err.trim().split('\n')).toEqual([
      '#1 queued: job created',
      '#2 queued -> preparing: attempt 1 taken by cli-test',
      '#3 preparing -> running',
      '#4 step 3/6  loss 1.2500  lr 2.00e-4  900 tok/s  ETA 0m30s',
      '#5 running -> succeeded: registered stories260k-lora@1',
    ]);
  });

  it('list, show and cancel; watch of a cancelled job exits 1', async () => {
    const a = await recordJob('first');
    const b = await recordJob('second');
    const listed = await lathe(['list', '--labels', 'suite=cli', '--state', 'queued', '--json']);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.out) as { jobs: { id: string }[] }).jobs.map((j) => j.id);
    expect(ids).toEqual([b, a]);
    const cancelled = await lathe(['cancel', a, '--reason', 'not needed']);
    expect([cancelled.code, cancelled.out]).toEqual([0, `${a} cancelled\n`]);
    const shown = await lathe(['show', a]);
    expect(shown.out).toMatch(
      new RegExp(`^${a}  cancelled  lora  stories260k@1  alpaca-tiny@1  first`),
    );
    const watched = await lathe(['watch', a]);
    expect(watched.code).toBe(1);
    expect(watched.err).toContain('#2 queued -> cancelled: not needed');
    const missing = await lathe(['show', 'nope']);
    expect([missing.code, missing.err]).toEqual([1, 'lathe: [not_found] job "nope" not found\n']);
  });
});
