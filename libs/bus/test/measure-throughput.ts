// Figures, not a test: publish and end-to-end consume rates of both buses, and work-queue
// take+ack rate. Run from the repo root:
//   node --conditions=lathe-source --import tsx libs/bus/test/measure-throughput.ts [events]
import { performance } from 'node:perf_hooks';
import { startNats } from '@lathe/testkit';
import { InProcessBroker, connectJetStreamBus, defineEvent, type EventBus } from '@lathe/bus';
import { testEventCodec } from './json-codec.js';

const events = Number(process.argv[2] ?? 5000);

async function measure(label: string, bus: EventBus, service: string): Promise<void> {
  const type = defineEvent(service, 'measured', testEventCodec);
  await bus.publish(type, { n: -1, text: 'warm-up' });

  let t0 = performance.now();
  for (let n = 0; n < events; n++) await bus.publish(type, { n, text: 'x'.repeat(64) });
  const sequentialMs = performance.now() - t0;

  t0 = performance.now();
  for (let batch = 0; batch < events; batch += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        bus.publish(type, { n: batch + i, text: 'x'.repeat(64) }),
      ),
    );
  }
  const concurrentMs = performance.now() - t0;

  const total = 2 * events + 1;
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  t0 = performance.now();
  const sub = await bus.subscribe(
    type,
    () => {
      if (++seen === total) done();
      return Promise.resolve();
    },
    { durable: 'measure' },
  );
  await all;
  const consumeMs = performance.now() - t0;
  await sub.stop();

  const queue = await bus.workQueue({ name: `${service}-jobs`, codec: testEventCodec });
  const jobs = Math.min(events, 2000);
  for (let n = 0; n < jobs; n++) await queue.enqueue({ n, text: '' });
  t0 = performance.now();
  for (let n = 0; n < jobs; n++) await (await queue.take({ waitMs: 1000 }))?.ack();
  const jobsMs = performance.now() - t0;

  const rate = (count: number, ms: number): string => `${Math.round((count / ms) * 1000)}/s`;
  console.log(
    `${label}: publish sequential ${rate(events, sequentialMs)}, publish 100 in flight ${rate(events, concurrentMs)}, ` +
      `consume (handler + ack, one at a time) ${rate(total, consumeMs)}, work queue take+ack ${rate(jobs, jobsMs)}`,
  );
}

const nats = await startNats();
const run = `m${Date.now().toString(36)}`;
try {
  const jetstream = await connectJetStreamBus({ servers: nats.url, name: 'measure' });
  await measure(`JetStream (${nats.source}, file storage)`, jetstream, `${run}-js`);
  await jetstream.close();
  const inProcess = new InProcessBroker().connect();
  await measure('in-process', inProcess, `${run}-mem`);
  await inProcess.close();
} finally {
  await nats.close();
}
