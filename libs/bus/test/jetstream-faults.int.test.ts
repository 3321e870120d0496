import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectJetStreamBus, defineEvent, rawBytesCodec, type EventBus } from '@lathe/bus';
import { DelayingProxy } from './delaying-proxy.js';
import { testEventCodec } from './json-codec.js';
import { startNats, type TestNats } from '@lathe/testkit';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');

describe('JetStream bus under faults (private nats-server)', () => {
  let server: TestNats;
  let buses: EventBus[];

  beforeEach(async () => {
    server = await startNats({ restartable: true });
    buses = [];
  });
  afterEach(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await server.close();
  });

  const bus = async (name: string): Promise<EventBus> => {
    const b = await connectJetStreamBus({
      servers: server.url,
      name,
      publishTimeoutMs: 1000,
      publishRetry: { attempts: 30 },
      onError: () => undefined,
    });
    buses.push(b);
    return b;
  };

  // SIGTERM is a clean restart; SIGKILL a crash, after which the consumer's last acks may be
  // lost and some events come again (at least once): the same stored events, never new copies.
  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'loses and stores twice nothing when the server restarts (%s) while 1,000 events are published',
    async (signal) => {
      const type = defineEvent('faults', 'published', testEventCodec);
      const producer = await bus('producer');
      const consumer = await bus('consumer');
      const sequencesById = new Map<string, Set<number>>();
      let handled = 0;
      let allIn!: () => void;
      const allConsumed = new Promise<void>((resolve) => (allIn = resolve));
      await consumer.subscribe(
        type,
        (event) => {
          handled++;
          const seqs = sequencesById.get(event.id) ?? new Set<number>();
          seqs.add(event.sequence);
          sequencesById.set(event.id, seqs);
          if (sequencesById.size === 1000) allIn();
          return Promise.resolve();
        },
        { durable: 'restart-survivor', ackWaitMs: 5000 },
      );

      let restart: Promise<void> | undefined;
      let duplicates = 0;
      let publishing = 0;
      let publishingWhenDown = -1;
      let publishingWhenUp = -1;
      let slowestPublishMs = 0;
      const started = Date.now();
      for (let i = 0; i < 1000; i++) {
        if (i === 300) {
          // Not awaited: the producer keeps publishing into the outage and must retry through it.
          restart = (async () => {
            await server.stop(signal);
            publishingWhenDown = publishing;
            await sleep(500);
            await server.start();
            publishingWhenUp = publishing;
          })();
        }
        publishing = i;
        const publishStarted = Date.now();
        const receipt = await producer.publish(type, { n: i, text: '' }, { id: `evt-${i}` });
        slowestPublishMs = Math.max(slowestPublishMs, Date.now() - publishStarted);
        if (receipt.duplicate) duplicates++;
      }
      await restart;
      await Promise.race([
        allConsumed,
        sleep(60_000).then(() =>
          Promise.reject(new Error(`only ${sequencesById.size} of 1000 consumed`)),
        ),
      ]);

      // The restart really happened under the producer's feet: it was down and back while the
      // producer was mid-way, and one publish waited (retrying) through the 500 ms outage.
      expect(publishingWhenDown).toBeGreaterThanOrEqual(300);
      expect(publishingWhenUp).toBeLessThan(1000);
      expect(slowestPublishMs).toBeGreaterThanOrEqual(500);
      // Each id was stored exactly once (one stream sequence), whatever the retries did.
      expect(sequencesById.size).toBe(1000);
      expect([...sequencesById.values()].every((seqs) => seqs.size === 1)).toBe(true);
      const nc = await connect({ servers: server.url });
      const info = await (await jetstreamManager(nc)).streams.info(type.stream);
      await nc.close();
      expect(info.state.messages).toBe(1000);
      console.log(
        `restart test (${signal}): 1000 events in ${Date.now() - started} ms, server down at event ${publishingWhenDown}, up at ${publishingWhenUp}, slowest publish ${slowestPublishMs} ms, ${duplicates} publish retries answered as duplicates, ${handled - 1000} redeliveries`,
      );
    },
  );

  it('retries a publish whose acknowledgement came too late with the same id: stored once', async () => {
    const proxy = await DelayingProxy.start(Number(new URL(server.url).port));
    const producer = await connectJetStreamBus({
      servers: proxy.url,
      name: 'late-acks',
      publishTimeoutMs: 500,
      publishRetry: { attempts: 10, initialDelayMs: 100 },
      onError: () => undefined,
    });
    try {
      const type = defineEvent('faults', 'late', testEventCodec);
      await producer.publish(type, { n: 0, text: 'creates the stream' });
      proxy.hold();
      setTimeout(() => proxy.release(), 1500);
      const receipt = await producer.publish(type, { n: 1, text: '' }, { id: 'late-1' });
      // The first attempt was stored; its ack was held past the timeout, so a retry with the same
      // id was answered as a duplicate of that stored copy.
      expect(receipt).toMatchObject({ id: 'late-1', duplicate: true, sequence: 2 });
      const nc = await connect({ servers: server.url });
      const info = await (await jetstreamManager(nc)).streams.info(type.stream);
      await nc.close();
      expect(info.state.messages).toBe(2);
    } finally {
      // The bus first: closing the proxy under it would leave it reconnecting.
      await producer.close();
      await proxy.close();
    }
  });

  it('processes an event once, on its third delivery, when the handler fails twice', async () => {
    const type = defineEvent('faults', 'flaky', testEventCodec);
    const b = await bus('flaky');
    const deliveries: number[] = [];
    let processed = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await b.subscribe(
      type,
      (event) => {
        deliveries.push(event.deliveryCount);
        if (deliveries.length <= 2)
          return Promise.reject(new Error(`transient failure ${deliveries.length}`));
        processed++;
        done();
        return Promise.resolve();
      },
      { durable: 'flaky', backoff: { initialMs: 100 } },
    );
    await b.publish(type, { n: 1, text: '' });
    await finished;
    await sleep(500);
    expect(deliveries).toEqual([1, 2, 3]);
    expect(processed).toBe(1);
  });

  it('gives a job held by a SIGKILLed worker process to another worker after the ack wait', async () => {
    const ackWaitMs = 2000;
    const b = await bus('survivor');
    const queue = await b.workQueue({ name: 'faults-train', codec: rawBytesCodec, ackWaitMs });
    await queue.enqueue(new TextEncoder().encode('train run 9'), { id: 'job-9' });

    const worker = spawn(
      process.execPath,
      [
        '--conditions=lathe-source',
        '--import',
        'tsx',
        join(here, 'fixtures/work-queue-worker.ts'),
        server.url,
        'faults-train',
        String(ackWaitMs),
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(createInterface({ input: worker.stdout }), 'line')) as [string];
    const takenAt = Date.now();
    expect(JSON.parse(line)).toEqual({ taken: 'job-9', deliveryCount: 1 });
    worker.kill('SIGKILL');
    await once(worker, 'exit');

    const job = await queue.take({ waitMs: 3 * ackWaitMs });
    const waited = Date.now() - takenAt;
    expect(job?.id).toBe('job-9');
    expect(job?.deliveryCount).toBe(2);
    expect(new TextDecoder().decode(job?.message)).toBe('train run 9');
    expect(waited).toBeGreaterThanOrEqual(ackWaitMs - 300);
    await job?.ack();
    expect(await queue.take({ waitMs: 1000 })).toBeUndefined();
  });
});
