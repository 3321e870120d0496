// WatchJob's generator over a real store (PGlite): the history part without past progress when
// asked, live progress always, the end at the terminal event, UNAVAILABLE when the service stops.
import { status } from '@grpc/grpc-js';
import { InProcessBroker } from '@lathe/bus';
import { JobState, TrainingProgress } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { isLatheError } from '@lathe/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDownstream } from '../src/clients/downstream-clients.js';
import { watchJob } from '../src/domain/watch-job.js';
import type { OpenedJobStore } from '../src/store/open-job-store.js';
import { openJobStore } from '../src/store/open-job-store.js';
import { createTrainingRuntime, type TrainingRuntime } from '../src/training-runtime.js';
import { newJob } from './job-store-suite.js';

describe('watchJob', () => {
  let opened: OpenedJobStore;
  let runtime: TrainingRuntime;
  const downstream = connectDownstream({
    registry: '127.0.0.1:1',
    datasets: '127.0.0.1:1',
    quantization: '127.0.0.1:1',
  });
  beforeAll(async () => {
    opened = await openJobStore('pglite:memory');
    runtime = createTrainingRuntime({
      store: opened.store,
      bus: new InProcessBroker().connect(),
      models: downstream.models,
      datasets: downstream.datasets,
      quantizer: downstream.quantizer,
      watchPollMs: 20,
    });
  });
  afterAll(async () => {
    runtime.stop();
    downstream.close();
    await opened.close();
  });

  const kinds = (events: readonly JobEvent[]): string[] =>
    events.map((e) =>
      e.event?.$case === 'stateChange'
        ? (JobState[e.event.stateChange.to] ?? '').replace('JOB_STATE_', '')
        : (e.event?.$case ?? ''),
    );

  it('skips past progress only, sends live progress, and ends after the terminal event', async () => {
    const store = opened.store;
    const { job } = await store.createJob(newJob());
    const begun = await store.beginAttempt(job.id, 'w', {});
    if (!begun.started) throw new Error(begun.message);
    const a = begun.attempt;
    await store.setState(job.id, a, JobState.JOB_STATE_RUNNING);
    await store.recordProgress(job.id, a, TrainingProgress.fromPartial({ step: 1, loss: 3 }));
    await store.recordProgress(job.id, a, TrainingProgress.fromPartial({ step: 2, loss: 2 }));
    const seen: JobEvent[] = [];
    const watching = (async () => {
      const request = { jobId: job.id, afterSequence: 0, skipPastProgress: true };
      for await (const e of watchJob(runtime.deps, request, new AbortController().signal))
        seen.push(e);
    })();
    while (seen.length < 3) await new Promise((r) => setTimeout(r, 10));
    await store.recordProgress(job.id, a, TrainingProgress.fromPartial({ step: 3, loss: 1 }));
    await store.finishAttempt(job.id, a, 'cancelled');
    await watching;
    expect(kinds(seen)).toEqual(['QUEUED', 'PREPARING', 'RUNNING', 'progress', 'CANCELLED']);
    expect(seen.map((e) => e.sequence)).toEqual([1, 2, 3, 6, 7]);
  });

  it('ends open watches with UNAVAILABLE when the service stops', async () => {
    const { job } = await opened.store.createJob(newJob());
    const request = { jobId: job.id, afterSequence: 0, skipPastProgress: false };
    const gen = watchJob(runtime.deps, request, new AbortController().signal);
    const first = await gen.next();
    expect(first.done === true ? undefined : first.value.sequence).toBe(1);
    const next = gen.next();
    runtime.stop();
    const error = await next.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLatheError(error) && error.code).toBe(status.UNAVAILABLE);
  });
});
