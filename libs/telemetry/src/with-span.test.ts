import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { startInMemoryTelemetry } from './in-memory-telemetry.js';
import { withSpan } from './with-span.js';

const telemetry = startInMemoryTelemetry({ instrumentations: [] });
afterAll(() => telemetry.shutdown());
beforeEach(() => telemetry.reset());

describe('withSpan', () => {
  it('runs the block in an active span with the attributes and returns its value', async () => {
    const result = await withSpan(
      'dataset.ingest',
      { 'lathe.dataset': 'support', 'lathe.records': 3 },
      (span) => {
        expect(trace.getActiveSpan()).toBe(span);
        return 42;
      },
    );
    expect(result).toBe(42);
    const [span] = await telemetry.finishedSpans();
    expect(span?.name).toBe('dataset.ingest');
    expect(span?.attributes).toEqual({ 'lathe.dataset': 'support', 'lathe.records': 3 });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('nests spans: a withSpan inside another is its child, in the same trace', async () => {
    await withSpan(
      'job',
      {},
      () => withSpan('step', { 'lathe.step': 1 }, () => Promise.resolve()),
      {
        kind: SpanKind.SERVER,
      },
    );
    const [step, job] = await telemetry.finishedSpans();
    expect(step?.parentSpanContext?.spanId).toBe(job?.spanContext().spanId);
    expect(step?.spanContext().traceId).toBe(job?.spanContext().traceId);
    expect(job?.kind).toBe(SpanKind.SERVER);
  });

  it('records a thrown error, marks the span as failed and rethrows', async () => {
    await expect(
      withSpan('train.step', {}, () => Promise.reject(new Error('loss is NaN at step 7'))),
    ).rejects.toThrow('loss is NaN at step 7');
    const [span] = await telemetry.finishedSpans();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'loss is NaN at step 7' });
    expect(span?.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'loss is NaN at step 7'],
    ]);
    expect(span?.ended).toBe(true);
  });
});
