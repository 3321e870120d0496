import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import { startNats, type TestNats } from '@lathe/testkit';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');

interface SpanRecord {
  readonly name: string;
  readonly kind: SpanKind;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly attributes: Record<string, unknown>;
}

describe('one trace across gRPC, a NATS event and gRPC again', () => {
  let nats: TestNats;
  let spans: SpanRecord[];

  beforeAll(async () => {
    nats = await startNats();
    const dir = await mkdtemp(join(tmpdir(), 'lathe-trace-'));
    const spansFile = join(dir, 'spans.json');
    // A child process, so that the SDK really starts (through --import) before @grpc/grpc-js is
    // loaded, as in a service started with `node --import @lathe/telemetry/register`.
    await promisify(execFile)(
      process.execPath,
      [
        '--conditions=lathe-source',
        '--import',
        'tsx',
        '--import',
        join(here, 'fixtures/register-in-memory.ts'),
        join(here, 'fixtures/traced-mesh.ts'),
        nats.url,
        spansFile,
      ],
      { cwd: repoRoot, timeout: 30_000 },
    );
    spans = JSON.parse(await readFile(spansFile, 'utf8')) as SpanRecord[];
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await nats.close();
  });

  const only = (name: string, kind: SpanKind): SpanRecord => {
    const found = spans.filter((s) => s.name === name && s.kind === kind);
    expect(
      found,
      `${name} (${SpanKind[kind]}) in ${JSON.stringify(spans.map((s) => s.name))}`,
    ).toHaveLength(1);
    return found[0] as SpanRecord;
  };
  const ancestors = (span: SpanRecord): SpanRecord[] => {
    const chain: SpanRecord[] = [];
    for (let p = span.parentSpanId; p !== null;) {
      const parent = spans.find((s) => s.spanId === p);
      if (parent === undefined) break;
      chain.push(parent);
      p = parent.parentSpanId;
    }
    return chain;
  };

  it('puts every span in the trace of the first gRPC call', () => {
    const first = only('grpc.lathe.test.Front/Start', SpanKind.CLIENT);
    expect(first.parentSpanId).toBeNull();
    expect(spans.length).toBeGreaterThanOrEqual(6);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([first.traceId]));
  });

  it("makes the consumer's span a descendant of the first call, and the second call a descendant of the consumer", () => {
    const first = only('grpc.lathe.test.Front/Start', SpanKind.CLIENT);
    const consumer = spans.find(
      (s) => s.kind === SpanKind.CONSUMER && s.name.startsWith('process lathe.'),
    );
    expect(consumer).toBeDefined();
    const consumerSpan = consumer as SpanRecord;
    expect(ancestors(consumerSpan).map((s) => s.spanId)).toContain(first.spanId);
    // The consumer's parent is the publisher's span, reached only through the NATS headers.
    const producer = spans.find((s) => s.spanId === consumerSpan.parentSpanId);
    expect(producer?.kind).toBe(SpanKind.PRODUCER);
    expect(producer?.name).toBe(consumerSpan.name.replace('process', 'send'));
    const secondServer = only('grpc.lathe.test.Back/Record', SpanKind.SERVER);
    expect(ancestors(secondServer).map((s) => s.spanId)).toContain(consumerSpan.spanId);
  });

  it('describes the consumer span with messaging semantic-convention attributes', () => {
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER) as SpanRecord;
    expect(consumer.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.destination.name': consumer.name.replace('process ', ''),
      'messaging.consumer.group.name': 'trace-fixture',
      'lathe.messaging.delivery_count': 1,
    });
    expect(typeof consumer.attributes['messaging.message.id']).toBe('string');
  });
});
