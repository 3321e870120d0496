import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deadLetterOf,
  defineEvent,
  rawBytesCodec,
  readDeadLetter,
  type BusSettings,
  type DeliveredEvent,
  type EventBus,
  type EventType,
  type Subscription,
} from '@lathe/bus';
import { testEventCodec, type TestEvent } from './json-codec.js';

/** A backend the suite can connect several bus clients to, like clients of one server. */
export interface BusBackend {
  /** A new bus client of the backend. */
  connect(settings?: BusSettings): Promise<EventBus>;
  /** Removes what the test left behind (streams). */
  cleanUp(services: readonly string[]): Promise<void>;
}

/**
 * The one behaviour both bus implementations must show. Each test uses services of its own, so
 * tests are independent of order and of other runs on a shared server.
 */
export function describeBusConformance(name: string, backend: () => BusBackend): void {
  describe(`${name}: event bus conformance`, () => {
    let buses: EventBus[] = [];
    let services: string[] = [];
    const connect = async (settings?: BusSettings): Promise<EventBus> => {
      const bus = await backend().connect(settings);
      buses.push(bus);
      return bus;
    };
    const service = (): string => {
      const s = `conf-${randomBytes(4).toString('hex')}`;
      services.push(s);
      return s;
    };

    beforeEach(() => {
      buses = [];
      services = [];
    });
    afterEach(async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      await backend().cleanUp(services);
    });

    it('declares streams idempotently, from any number of clients', async () => {
      const svc = service();
      const created = defineEvent(svc, 'created', testEventCodec);
      const deleted = defineEvent(svc, 'deleted', testEventCodec);
      const a = await connect();
      const b = await connect();
      await a.declareEvents([created, deleted]);
      await a.declareEvents([created]);
      await b.declareEvents([deleted, created]);
      expect((await b.publish(created, { n: 1, text: '' })).sequence).toBe(1);
      expect((await a.publish(deleted, { n: 2, text: '' })).sequence).toBe(2);
    });

    it('delivers each subject in publish order, and only its own subject', async () => {
      const bus = await connect();
      const svc = service();
      const left = defineEvent(svc, 'left', testEventCodec);
      const right = defineEvent(svc, 'right', testEventCodec);
      const got = { left: [] as number[], right: [] as number[] };
      const leftDone = collect(bus, left, 'order-left', 40, (e) => got.left.push(e.message.n));
      const rightDone = collect(bus, right, 'order-right', 40, (e) => got.right.push(e.message.n));
      for (let n = 0; n < 40; n++) {
        await bus.publish(left, { n, text: 'l' });
        await bus.publish(right, { n: 100 + n, text: 'r' });
      }
      await Promise.all([leftDone, rightDone]);
      expect(got.left).toEqual(range(0, 40));
      expect(got.right).toEqual(range(100, 140));
    });

    it('redelivers an event whose handler failed, with the delivery count', async () => {
      const bus = await connect();
      const type = defineEvent(service(), 'flaky', testEventCodec);
      const seen: Array<{ id: string; n: number; deliveryCount: number; ok: boolean }> = [];
      let handled!: () => void;
      const done = new Promise<void>((resolve) => (handled = resolve));
      const sub = await bus.subscribe(
        type,
        (event) => {
          const ok = event.deliveryCount > 1;
          seen.push({ id: event.id, n: event.message.n, deliveryCount: event.deliveryCount, ok });
          if (!ok) return Promise.reject(new Error('first attempt fails'));
          handled();
          return Promise.resolve();
        },
        { durable: 'flaky', backoff: { initialMs: 50 } },
      );
      const receipt = await bus.publish(type, { n: 7, text: 'x' });
      await done;
      await sub.stop();
      expect(seen).toEqual([
        { id: receipt.id, n: 7, deliveryCount: 1, ok: false },
        { id: receipt.id, n: 7, deliveryCount: 2, ok: true },
      ]);
    });

    it('drops a second publish with the same id inside the duplicate window', async () => {
      const bus = await connect();
      const type = defineEvent(service(), 'dedupe', testEventCodec);
      const first = await bus.publish(type, { n: 1, text: 'a' }, { id: 'job-41' });
      const again = await bus.publish(type, { n: 2, text: 'b' }, { id: 'job-41' });
      const other = await bus.publish(type, { n: 3, text: 'c' }, { id: 'job-42' });
      expect(first.duplicate).toBe(false);
      expect(again).toMatchObject({ duplicate: true, sequence: first.sequence, id: 'job-41' });
      expect(other.duplicate).toBe(false);
      const got: Array<[string, number]> = [];
      // Delivery is in stream order, so a stored duplicate would arrive before job-42.
      await collect(bus, type, 'dedupe', 2, (e) => got.push([e.id, e.message.n]));
      expect(got).toEqual([
        ['job-41', 1],
        ['job-42', 3],
      ]);
    });

    it('accepts an id again once the duplicate window has passed', async () => {
      const bus = await connect({ duplicateWindowMs: 1000 });
      const type = defineEvent(service(), 'window', testEventCodec);
      const first = await bus.publish(type, { n: 1, text: '' }, { id: 'nightly-eval' });
      expect((await bus.publish(type, { n: 2, text: '' }, { id: 'nightly-eval' })).duplicate).toBe(
        true,
      );
      await sleep(1300);
      const later = await bus.publish(type, { n: 3, text: '' }, { id: 'nightly-eval' });
      expect(later.duplicate).toBe(false);
      expect(later.sequence).toBeGreaterThan(first.sequence);
    });

    it('resumes a durable consumer after the last acknowledged event', async () => {
      const type = defineEvent(service(), 'resume', testEventCodec);
      const first = await connect();
      for (let n = 1; n <= 3; n++) await first.publish(type, { n, text: '' });
      const before: number[] = [];
      await collect(first, type, 'resumer', 3, (e) => before.push(e.message.n));
      await first.close();

      const second = await connect();
      for (let n = 4; n <= 6; n++) await second.publish(type, { n, text: '' });
      const after: number[] = [];
      const done = collect(second, type, 'resumer', 4, (e) => after.push(e.message.n));
      await second.publish(type, { n: 7, text: 'sentinel' });
      await done;
      expect(before).toEqual([1, 2, 3]);
      expect(after).toEqual([4, 5, 6, 7]);
    });

    it('dead-letters an event after the maximum deliveries, with payload, count and last error', async () => {
      const bus = await connect();
      const type = defineEvent(service(), 'poison', testEventCodec);
      const attempts: number[] = [];
      const sub = await bus.subscribe(
        type,
        (event) => {
          attempts.push(event.deliveryCount);
          return Promise.reject(
            new Error(`cannot handle n=${event.message.n} (attempt ${event.deliveryCount})`),
          );
        },
        { durable: 'poison', maxDeliveries: 3, backoff: { initialMs: 20 } },
      );
      const receipt = await bus.publish(
        type,
        { n: 13, text: 'bad' },
        { headers: { 'x-tenant': 'acme' } },
      );
      const letters: Array<DeliveredEvent<TestEvent>> = [];
      // The dead-letter stream is shared by all services: a durable name of this test's own.
      await collect(bus, deadLetterOf(type), `dlq-${type.service}`, 1, (e) => letters.push(e));
      // Long enough for a (wrong) fourth delivery to show up.
      await sleep(300);
      await sub.stop();
      expect(attempts).toEqual([1, 2, 3]);
      const letter = letters[0];
      expect(letter?.subject).toBe(`lathe.deadletter.${type.service}.poison`);
      expect(letter?.message).toEqual({ n: 13, text: 'bad' });
      expect(letter?.headers['x-tenant']).toBe('acme');
      expect(letter === undefined ? undefined : readDeadLetter(letter)).toEqual({
        originalSubject: type.subject,
        originalId: receipt.id,
        consumer: 'poison',
        deliveries: 3,
        lastError: 'cannot handle n=13 (attempt 3)',
      });
    });

    it('dead-letters an undecodable event on its first delivery', async () => {
      const bus = await connect();
      const svc = service();
      const typed = defineEvent(svc, 'garbled', testEventCodec);
      // Same subject, written by a producer with another idea of the payload.
      const raw = defineEvent(svc, 'garbled', rawBytesCodec);
      const handled: number[] = [];
      const sub = await bus.subscribe(
        typed,
        (event) => {
          handled.push(event.message.n);
          return Promise.resolve();
        },
        { durable: 'garbled', maxDeliveries: 5 },
      );
      await bus.publish(raw, new TextEncoder().encode('not json'));
      const letters: Array<DeliveredEvent<Uint8Array>> = [];
      await collect(bus, deadLetterOf(raw), `dlq-${svc}`, 1, (e) => letters.push(e));
      await sub.stop();
      expect(handled).toEqual([]);
      expect(new TextDecoder().decode(letters[0]?.message)).toBe('not json');
      const info = letters[0] === undefined ? undefined : readDeadLetter(letters[0]);
      expect(info?.deliveries).toBe(1);
      expect(info?.lastError).toMatch(/could not be decoded/);
    });

    it('terminates a dead letter whose own handler gives up, instead of recycling it', async () => {
      const bus = await connect();
      const type = defineEvent(service(), 'doomed', testEventCodec);
      const failing = { maxDeliveries: 2, backoff: { initialMs: 10 } };
      const reject = () => Promise.reject(new Error('still broken'));
      const original = await bus.subscribe(type, reject, { durable: 'doomed', ...failing });
      const letterAttempts: number[] = [];
      const letters = await bus.subscribe(
        deadLetterOf(type),
        (event) => {
          letterAttempts.push(event.deliveryCount);
          return reject();
        },
        { durable: `dlq-${type.service}`, ...failing },
      );
      await bus.publish(type, { n: 1, text: '' });
      for (let i = 0; i < 100 && letterAttempts.length < 2; i++) await sleep(20);
      await sleep(300);
      await original.stop();
      await letters.stop();
      // Re-published, it would come back as a new dead letter: 1, 2, 1, 2, ...
      expect(letterAttempts).toEqual([1, 2]);
    });

    it('refuses to reuse a durable name for another subject', async () => {
      const bus = await connect();
      const svc = service();
      const first = await bus.subscribe(
        defineEvent(svc, 'one', testEventCodec),
        () => Promise.resolve(),
        { durable: 'shared-name' },
      );
      await expect(
        bus.subscribe(defineEvent(svc, 'two', testEventCodec), () => Promise.resolve(), {
          durable: 'shared-name',
        }),
      ).rejects.toThrow(
        /consumer shared-name on LATHE_CONF_\w+ already filters "lathe\.conf-\w+\.one"/,
      );
      await first.stop();
    });

    it('redelivers a work-queue job to another worker after the ack wait, and removes it once acked', async () => {
      const producer = await connect();
      const name = service();
      const queue = await producer.workQueue({ name, codec: testEventCodec, ackWaitMs: 1500 });
      await queue.enqueue({ n: 5, text: 'train' }, { id: 'job-5' });

      const crashed = await (
        await connect()
      ).workQueue({ name, codec: testEventCodec, ackWaitMs: 1500 });
      const abandoned = await crashed.take({ waitMs: 2000 });
      expect(abandoned).toMatchObject({
        id: 'job-5',
        deliveryCount: 1,
        message: { n: 5, text: 'train' },
      });
      const takenAt = Date.now();

      const survivor = await (
        await connect()
      ).workQueue({ name, codec: testEventCodec, ackWaitMs: 1500 });
      const again = await survivor.take({ waitMs: 5000 });
      const waited = Date.now() - takenAt;
      expect(again).toMatchObject({ id: 'job-5', deliveryCount: 2 });
      expect(waited).toBeGreaterThanOrEqual(1200);
      await again?.ack();
      expect(await survivor.take({ waitMs: 1000 })).toBeUndefined();
    });

    it('keeps a work-queue job while in-progress acks extend the ack wait', async () => {
      const bus = await connect();
      const name = service();
      const queue = await bus.workQueue({ name, codec: testEventCodec, ackWaitMs: 1000 });
      const other = await (
        await connect()
      ).workQueue({ name, codec: testEventCodec, ackWaitMs: 1000 });
      await queue.enqueue({ n: 1, text: 'long' });
      const job = await queue.take({ waitMs: 2000 });
      expect(job?.deliveryCount).toBe(1);
      // The work outlasts the ack wait three times over; heartbeats keep it from the other worker.
      const stolen = other.take({ waitMs: 2500 });
      const result = await job?.run(
        async () => {
          await sleep(3000);
          return 'trained';
        },
        { heartbeatMs: 250 },
      );
      expect(result).toBe('trained');
      expect(await stolen).toBeUndefined();
      expect(await other.take({ waitMs: 1000 })).toBeUndefined();
    });
  });
}

/** Subscribes and resolves after `count` events were handled; then stops the subscription. */
async function collect<T>(
  bus: EventBus,
  type: EventType<T>,
  durable: string,
  count: number,
  onEvent: (event: DeliveredEvent<T>) => void,
): Promise<void> {
  let seen = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const sub: Subscription = await bus.subscribe(
    type,
    (event) => {
      onEvent(event);
      if (++seen === count) finish();
      return Promise.resolve();
    },
    { durable },
  );
  await done;
  await sub.stop();
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
