import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectJetStreamBus, defineEvent, deadLetterOf, type EventBus } from '@lathe/bus';
import { LocalNatsServer } from '@lathe/testkit';
import { testEventCodec } from './json-codec.js';

// Always the local nats-server binary (2.9.10 in Debian), never NATS_URL or a container: servers
// before 2.10.4 do not understand `+TERM <reason>` and redeliver the message after the ack wait,
// which is what these tests guard against.
describe('JetStream terminate (private nats-server)', () => {
  let server: LocalNatsServer;
  let serverVersion: string;
  const buses: EventBus[] = [];

  beforeAll(async () => {
    server = await LocalNatsServer.launch();
    const nc = await connect({ servers: server.url });
    serverVersion = nc.info?.version ?? 'unknown';
    await nc.close();
  });
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await server.close();
  });

  const bus = async (): Promise<EventBus> => {
    const b = await connectJetStreamBus({ servers: server.url, onError: () => undefined });
    buses.push(b);
    return b;
  };

  it('removes a work-queue job terminated with a reason: no redelivery after the ack wait', async () => {
    const queue = await (
      await bus()
    ).workQueue({ name: 'refused', codec: testEventCodec, ackWaitMs: 1000 });
    await queue.enqueue({ n: 1, text: 'refuse me' }, { id: 'job-refused' });
    const job = await queue.take({ waitMs: 2000 });
    expect(job?.id).toBe('job-refused');
    await job?.term('attempt refused: no capable worker');

    // Twice the ack wait: a terminate the server did not understand would bring the job back.
    expect(await queue.take({ waitMs: 2500 }), `nats-server ${serverVersion}`).toBeUndefined();
    const nc = await connect({ servers: server.url });
    const stream = await (await jetstreamManager(nc)).streams.info('LATHE_WORK_REFUSED');
    await nc.close();
    expect(stream.state.messages).toBe(0);
  });

  it('hands a dead-lettered event to its handler maxDeliveries times, never once more', async () => {
    const type = defineEvent('terminate', 'failing', testEventCodec);
    const consumer = await bus();
    let handled = 0;
    await consumer.subscribe(
      type,
      () => {
        handled++;
        return Promise.reject(new Error('handler always fails'));
      },
      { durable: 'always-fails', maxDeliveries: 2, ackWaitMs: 1000, backoff: { initialMs: 50 } },
    );
    let deadLettered!: () => void;
    const deadLetter = new Promise<void>((resolve) => (deadLettered = resolve));
    await consumer.subscribe(
      deadLetterOf(type),
      () => {
        deadLettered();
        return Promise.resolve();
      },
      { durable: 'dead-letter-watch' },
    );
    await (await bus()).publish(type, { n: 1, text: 'poison' }, { id: 'poison-1' });

    await deadLetter;
    // The server allows maxDeliveries + 1 deliveries; a lost terminate would use the last one.
    await sleep(2500);
    expect(handled, `nats-server ${serverVersion}`).toBe(2);
  });
});
