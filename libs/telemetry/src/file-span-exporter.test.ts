import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSpanExporter, type SpanRecord } from './file-span-exporter.js';
import { spanProcessorsWithFileFromEnv } from './file-traces-env.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lathe-file-spans-'));
  dirs.push(dir);
  return join(dir, 'nested', 'spans.jsonl');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function readRecords(path: string): SpanRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SpanRecord);
}

describe('FileSpanExporter', () => {
  it('appends one JSON line per ended span with ids, parent, kind, service, times, attributes and status', async () => {
    const path = tempFile();
    const exporter = new FileSpanExporter(path);
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'file-test' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const tracer = provider.getTracer('test');
    const root = tracer.startSpan('root', { kind: SpanKind.SERVER, attributes: { a: 1 } });
    const child = tracer.startSpan(
      'child',
      { kind: SpanKind.CLIENT, attributes: { b: 'two', c: [1, 2] } },
      trace.setSpan(context.active(), root),
    );
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'it broke' });
    child.end();
    root.setStatus({ code: SpanStatusCode.OK });
    root.end();
    await provider.shutdown();

    const [first, second, ...rest] = readRecords(path);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({
      traceId: root.spanContext().traceId,
      spanId: child.spanContext().spanId,
      parentSpanId: root.spanContext().spanId,
      name: 'child',
      kind: 'client',
      serviceName: 'file-test',
      attributes: { b: 'two', c: [1, 2] },
      status: { code: 'error', message: 'it broke' },
      pid: process.pid,
    });
    expect(second).toMatchObject({
      spanId: root.spanContext().spanId,
      name: 'root',
      kind: 'server',
      attributes: { a: 1 },
      status: { code: 'ok' },
    });
    expect(second).not.toHaveProperty('parentSpanId');
    const start = BigInt(second?.startTimeUnixNano ?? '0');
    const end = BigInt(second?.endTimeUnixNano ?? '0');
    expect(end >= start).toBe(true);
    // Nanoseconds since the epoch: after 2020-01-01.
    expect(start > 1_577_836_800n * 1_000_000_000n).toBe(true);
  });

  it('fails exports after shutdown instead of writing to a closed file', async () => {
    const exporter = new FileSpanExporter(tempFile());
    await exporter.shutdown();
    const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
      exporter.export([], resolve),
    );
    expect(result.code).not.toBe(0);
    expect(result.error?.message).toContain('shut down');
  });
});

describe('spanProcessorsWithFileFromEnv', () => {
  it('leaves the choice to the SDK when the file exporter is not named', () => {
    expect(spanProcessorsWithFileFromEnv({ OTEL_TRACES_EXPORTER: 'otlp,console' })).toBeUndefined();
    expect(spanProcessorsWithFileFromEnv({})).toBeUndefined();
  });

  it('makes one file processor for file and lathe-file together, plus console', () => {
    const path = tempFile();
    const processors = spanProcessorsWithFileFromEnv({
      OTEL_TRACES_EXPORTER: 'file, lathe-file,console',
      LATHE_TRACES_FILE: path,
    });
    expect(processors).toHaveLength(2);
  });

  it('makes none when none is listed', () => {
    expect(
      spanProcessorsWithFileFromEnv({ OTEL_TRACES_EXPORTER: 'file,none', LATHE_TRACES_FILE: 'x' }),
    ).toEqual([]);
  });

  it('refuses the file exporter without LATHE_TRACES_FILE, naming the variable', () => {
    expect(() => spanProcessorsWithFileFromEnv({ OTEL_TRACES_EXPORTER: 'file' })).toThrow(
      /LATHE_TRACES_FILE/,
    );
  });
});
