import { SpanKind } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { InProcessBroker, defineEvent, rawBytesCodec } from '@lathe/bus';
import { startInMemoryTelemetry, withSpan } from '@lathe/telemetry';

const telemetry = startInMemoryTelemetry({ instrumentations: [] });
afterAll(() => telemetry.shutdown());

describe('trace context through the in-process bus', () => {
  it('runs the consumer in a CONSUMER span that continues the publisher trace', async () => {
    const bus = new InProcessBroker().connect();
    const type = defineEvent('tracing', 'happened', rawBytesCodec);
    let handled!: () => void;
    const done = new Promise<void>((resolve) => (handled = resolve));
    const sub = await bus.subscribe(type, () => withSpan('react', {}, () => handled()), {
      durable: 'tracing',
    });
    await withSpan('request', {}, () => bus.publish(type, new Uint8Array([1])));
    await done;
    await sub.stop();
    await bus.close();

    const spans = await telemetry.finishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name);
    const request = byName('request');
    const send = byName('send lathe.tracing.happened');
    const process = byName('process lathe.tracing.happened');
    const react = byName('react');
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(process?.kind).toBe(SpanKind.CONSUMER);
    expect(send?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(process?.parentSpanContext?.spanId).toBe(send?.spanContext().spanId);
    expect(react?.parentSpanContext?.spanId).toBe(process?.spanContext().spanId);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(process?.attributes['messaging.system']).toBe('lathe_in_process');
  });

  it('runs a work-queue job in a CONSUMER span that continues the enqueuer trace', async () => {
    telemetry.reset();
    const bus = new InProcessBroker().connect();
    const queue = await bus.workQueue({ name: 'traced', codec: rawBytesCodec, ackWaitMs: 1000 });
    await withSpan('create-job', {}, () => queue.enqueue(new Uint8Array([7])));
    const job = await queue.take({ waitMs: 100 });
    await job?.run(() => withSpan('train', {}, () => Promise.resolve()));
    await bus.close();

    const spans = await telemetry.finishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name);
    const create = byName('create-job');
    const run = byName('process lathe.work.traced');
    expect(run?.kind).toBe(SpanKind.CONSUMER);
    expect(run?.attributes['lathe.messaging.delivery_count']).toBe(1);
    expect(run?.spanContext().traceId).toBe(create?.spanContext().traceId);
    expect(byName('train')?.parentSpanContext?.spanId).toBe(run?.spanContext().spanId);
  });
});
