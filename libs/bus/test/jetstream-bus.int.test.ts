import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { nanos } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectJetStreamBus, defineEvent, rawBytesCodec } from '@lathe/bus';
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

describe('NATS JetStream: stream configuration', () => {
  it("brings an existing stream's duplicate window up to date instead of failing", async () => {
    const service = `cfg-${Date.now().toString(36)}`;
    const type = defineEvent(service, 'changed', rawBytesCodec);
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    try {
      const narrow = await connectJetStreamBus({ servers: server.url, duplicateWindowMs: 1000 });
      await narrow.declareEvents([type]);
      await narrow.close();
      expect((await jsm.streams.info(type.stream)).config.duplicate_window).toBe(nanos(1000));
      const wide = await connectJetStreamBus({ servers: server.url });
      await wide.declareEvents([type]);
      await wide.close();
      const { config } = await jsm.streams.info(type.stream);
      expect(config.duplicate_window).toBe(nanos(120_000));
      expect(config.subjects).toEqual([`lathe.${service}.>`]);
    } finally {
      await jsm.streams.delete(type.stream);
      await nc.close();
    }
  });
});
