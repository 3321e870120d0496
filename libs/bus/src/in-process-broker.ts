import type { EventBus } from './event-bus.js';
import type { InMemoryStream } from './in-memory-stream.js';
import { InProcessTransport } from './in-process-transport.js';
import { TransportEventBus, type BusSettings } from './transport-event-bus.js';

/** Options for an {@link InProcessBroker}; none yet, kept for symmetry with the NATS options. */
export type InProcessBrokerOptions = Record<string, never>;

/**
 * The embedded mode's stand-in for a NATS server: streams, duplicate windows and durable
 * consumers held in this process's memory. Buses from {@link InProcessBroker.connect} share it
 * and behave like JetStream buses sharing a server (same conformance suite). Nothing is written
 * to disk: events and consumer positions are lost when the process exits.
 */
export class InProcessBroker {
  private readonly streams = new Map<string, InMemoryStream>();

  /** Returns a new bus client of this broker (as connecting a new client to a server). */
  connect(settings: BusSettings = {}): EventBus {
    return new TransportEventBus(new InProcessTransport(this.streams), settings);
  }
}
