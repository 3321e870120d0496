import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { connectJetStreamBus } from '@lathe/bus';
import { describeBusConformance } from './bus-conformance.js';
import { startNats, type TestNats } from '@lathe/testkit';

// NATS_URL's server when set (tests use services of their own and delete their streams), else a
// private nats-server.
let server: TestNats;

beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server.close();
});

describeBusConformance('NATS JetStream', () => ({
  connect: (settings) =>
    connectJetStreamBus({
      servers: server.url,
      name: 'bus-conformance',
      onError: () => undefined,
      ...settings,
    }),
  cleanUp: async (services) => {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const names = await jsm.streams.names().next();
    const prefixes = services.map((s) => s.toUpperCase().replaceAll('-', '_'));
    for (const name of names) {
      if (prefixes.some((p) => name.includes(p))) await jsm.streams.delete(name);
    }
    await nc.close();
  },
}));
