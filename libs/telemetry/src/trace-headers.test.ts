import { context, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { startInMemoryTelemetry } from './in-memory-telemetry.js';
import { extractTraceContext, injectTraceHeaders } from './trace-headers.js';
import { withSpan } from './with-span.js';

const telemetry = startInMemoryTelemetry({ instrumentations: [] });
afterAll(() => telemetry.shutdown());

describe('trace headers', () => {
  it('writes a W3C traceparent for the active span and reads it back as the parent', async () => {
    const headers = await withSpan('publish', {}, (span) => {
      const h = injectTraceHeaders({ 'x-other': 'kept' });
      const { traceId, spanId } = span.spanContext();
      expect(h).toEqual({ 'x-other': 'kept', traceparent: `00-${traceId}-${spanId}-01` });
      return h;
    });
    // On the receiving side, possibly inside an unrelated span.
    await withSpan('unrelated', {}, async () => {
      const parent = extractTraceContext(headers);
      await context.with(parent, () => withSpan('consume', {}, () => Promise.resolve()));
    });
    const publish = (await telemetry.finishedSpans()).find((s) => s.name === 'publish');
    const consume = (await telemetry.finishedSpans()).find((s) => s.name === 'consume');
    expect(consume?.parentSpanContext?.spanId).toBe(publish?.spanContext().spanId);
    expect(consume?.spanContext().traceId).toBe(publish?.spanContext().traceId);
  });

  it('yields no parent span for headers without trace context', () => {
    const ctx = extractTraceContext({ 'content-type': 'application/x-protobuf' });
    expect(trace.getSpanContext(ctx)).toBeUndefined();
    expect(injectTraceHeaders({}, ctx)).toEqual({});
  });
});
