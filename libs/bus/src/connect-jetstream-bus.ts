import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { EventBus } from './event-bus.js';
import { BusError } from './errors.js';
import { JetStreamTransport, type PublishRetry } from './jetstream-transport.js';
import { TransportEventBus, type BusSettings } from './transport-event-bus.js';

/** Options for {@link connectJetStreamBus}. */
export interface JetStreamBusOptions extends BusSettings {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` (typically from `NATS_URL`). */
  readonly servers: string | readonly string[];
  /** Connection name shown by the server's monitoring, e.g. the service name. */
  readonly name?: string;
  /** Stream storage. Default `file` (survives a server restart). */
  readonly storage?: 'file' | 'memory';
  /** How long a publish waits for the stream's acknowledgement. Default 5000 ms. */
  readonly publishTimeoutMs?: number;
  /** Retries of a failed publish, with the same msg id. */
  readonly publishRetry?: PublishRetry;
  /** Anything else for the NATS client (credentials, TLS...). Reconnection is forever by default. */
  readonly connection?: Partial<NodeConnectionOptions>;
}

/**
 * Connects to NATS and returns the JetStream {@link EventBus}. The connection reconnects forever
 * (every 250 ms) so that a restarting server costs a pause, not the process.
 */
export async function connectJetStreamBus(options: JetStreamBusOptions): Promise<EventBus> {
  const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
  let nc;
  try {
    nc = await connect({
      servers,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...options.connection,
    });
  } catch (error) {
    throw new BusError(`could not connect to NATS at ${servers.join(', ')}`, { cause: error });
  }
  const transport = await JetStreamTransport.open(nc, {
    storage: options.storage ?? 'file',
    publishTimeoutMs: options.publishTimeoutMs ?? 5000,
    publishRetry: options.publishRetry ?? {},
  });
  return new TransportEventBus(transport, options);
}
