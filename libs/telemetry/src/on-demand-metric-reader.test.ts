import { metrics } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { startInMemoryTelemetry } from './in-memory-telemetry.js';

const telemetry = startInMemoryTelemetry({ instrumentations: [], serviceName: 'metrics-test' });
afterAll(() => telemetry.shutdown());

describe('metrics', () => {
  it('reads what a counter and a histogram recorded, under the service resource', async () => {
    const meter = metrics.getMeter('lathe-test');
    const tokens = meter.createCounter('lathe.train.tokens');
    const stepTime = meter.createHistogram('lathe.train.step.duration', { unit: 's' });
    tokens.add(2048, { 'lathe.job': 'j1' });
    tokens.add(1024, { 'lathe.job': 'j1' });
    stepTime.record(0.25);
    stepTime.record(0.75);

    const read = await telemetry.readMetrics();
    expect(read.resource.attributes['service.name']).toBe('metrics-test');
    const all = read.scopeMetrics.flatMap((s) => s.metrics);
    const counter = all.find((m) => m.descriptor.name === 'lathe.train.tokens');
    expect(counter?.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [{ 'lathe.job': 'j1' }, 3072],
    ]);
    const histogram = all.find((m) => m.descriptor.name === 'lathe.train.step.duration');
    expect(histogram?.dataPoints[0]?.value).toMatchObject({
      count: 2,
      sum: 1,
      min: 0.25,
      max: 0.75,
    });
  });
});
