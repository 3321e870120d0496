import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  headers as natsHeaders,
  nanos,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/nats-core';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusError } from './errors.js';
import { serverReadsTermReason } from './term-reason.js';
import type {
  BusTransport,
  ConsumerSpec,
  OutgoingMessage,
  RawDelivery,
  StreamSpec,
} from './transport.js';

// JetStream API error codes (nats-server's errors.json) the bus reacts to.
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NOT_FOUND = 10014;
const MSG_ID_HEADER = 'Nats-Msg-Id';

/** How a failed publish is retried, always with the same `Nats-Msg-Id`. */
export interface PublishRetry {
  /** Attempts in all, the first included. Default 10. */
  readonly attempts?: number;
  /** Delay after the first failure, doubled after each further one up to 2000 ms. Default 100. */
  readonly initialDelayMs?: number;
}

/** @internal */
export interface JetStreamTransportOptions {
  readonly storage: 'file' | 'memory';
  readonly publishTimeoutMs: number;
  readonly publishRetry: PublishRetry;
}

/**
 * {@link BusTransport} over NATS JetStream: file-backed streams, durable pull consumers.
 * @internal
 */
export class JetStreamTransport implements BusTransport {
  readonly system = 'nats';
  private readonly js: JetStreamClient;
  private readonly consumers = new Map<string, Promise<Consumer>>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamTransportOptions,
  ) {
    this.js = jetstream(nc);
  }

  /** Wraps an open connection; fails when the server has no JetStream. */
  static async open(
    nc: NatsConnection,
    options: JetStreamTransportOptions,
  ): Promise<JetStreamTransport> {
    try {
      return new JetStreamTransport(nc, await jetstreamManager(nc), options);
    } catch (error) {
      throw new BusError(
        `NATS server ${nc.getServer()} does not offer JetStream (start it with -js)`,
        { cause: error },
      );
    }
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    const config = {
      name: spec.name,
      subjects: [spec.subjects],
      retention:
        spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
      storage: this.options.storage === 'file' ? StorageType.File : StorageType.Memory,
      duplicate_window: nanos(spec.duplicateWindowMs),
    };
    try {
      await this.jsm.streams.add(config);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE)) {
        throw new BusError(`could not create stream ${spec.name} on "${spec.subjects}"`, {
          cause: error,
        });
      }
      // It exists with another configuration: bring the fields we own up to date. Retention
      // cannot change on a live stream; the server says so and we pass that on.
      const { config: current } = await this.jsm.streams.info(spec.name);
      try {
        await this.jsm.streams.update(spec.name, {
          ...current,
          subjects: config.subjects,
          duplicate_window: config.duplicate_window,
        });
      } catch (updateError) {
        throw new BusError(`stream ${spec.name} exists and could not be updated`, {
          cause: updateError,
        });
      }
    }
  }

  async publish(message: OutgoingMessage): Promise<{ sequence: number; duplicate: boolean }> {
    const headers = natsHeaders();
    for (const [key, value] of Object.entries(message.headers)) headers.set(key, value);
    const attempts = this.options.publishRetry.attempts ?? 10;
    let delayMs = this.options.publishRetry.initialDelayMs ?? 100;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const ack = await this.js.publish(message.subject, message.data, {
          msgID: message.id,
          headers,
          timeout: this.options.publishTimeoutMs,
          expect: { streamName: message.stream },
        });
        return { sequence: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        // The stream answered and refused (limits, sealed stream, wrong stream): asking again
        // will not change its mind.
        if (error instanceof JetStreamApiError) {
          throw new BusError(
            `stream ${message.stream} refused event ${message.id} on "${message.subject}": ${error.message}`,
            { cause: error },
          );
        }
        // Timeouts and lost connections are retried: with the same msg id, a publish that did
        // reach the stream before the failure is dropped as a duplicate.
        lastError = error;
        if (attempt < attempts) {
          await sleep(delayMs);
          delayMs = Math.min(2000, delayMs * 2);
        }
      }
    }
    throw new BusError(
      `publish of event ${message.id} on "${message.subject}" failed after ${attempts} attempts`,
      {
        cause: lastError,
      },
    );
  }

  async ensureConsumer(spec: ConsumerSpec): Promise<void> {
    const config = {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(spec.ackWaitMs),
      max_deliver: spec.maxDeliveries,
      filter_subject: spec.filterSubject,
    };
    let info: ConsumerInfo;
    try {
      info = await this.jsm.consumers.info(spec.stream, spec.durable);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === CONSUMER_NOT_FOUND)) {
        throw new BusError(`could not look up consumer ${spec.durable} on stream ${spec.stream}`, {
          cause: error,
        });
      }
      try {
        await this.jsm.consumers.add(spec.stream, config);
        return;
      } catch (addError) {
        throw new BusError(`could not create consumer ${spec.durable} on stream ${spec.stream}`, {
          cause: addError,
        });
      }
    }
    if (info.config.filter_subject !== spec.filterSubject) {
      throw new BusError(
        `consumer ${spec.durable} on ${spec.stream} already filters "${info.config.filter_subject ?? ''}", not "${spec.filterSubject}": use another durable name`,
      );
    }
    if (
      info.config.ack_wait !== config.ack_wait ||
      info.config.max_deliver !== config.max_deliver
    ) {
      try {
        await this.jsm.consumers.update(spec.stream, spec.durable, {
          ack_wait: config.ack_wait,
          max_deliver: config.max_deliver,
        });
      } catch (updateError) {
        throw new BusError(`could not update consumer ${spec.durable} on stream ${spec.stream}`, {
          cause: updateError,
        });
      }
    }
  }

  async consume(
    spec: ConsumerSpec,
    onFailure: (error: unknown) => void,
    onDelivery: (delivery: RawDelivery) => Promise<void>,
  ): Promise<() => Promise<void>> {
    const consumer = await this.consumer(spec);
    // A small buffer: messages fetched but not handled when the subscription stops are given
    // back at once (nak) rather than waiting out the ack wait.
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 32 });
    let stopping = false;
    const loop = (async () => {
      for await (const msg of messages) {
        if (stopping) {
          msg.nak();
          continue;
        }
        await onDelivery(toRawDelivery(msg, this.nc));
      }
    })().catch(onFailure);
    return async () => {
      stopping = true;
      messages.stop();
      await loop;
    };
  }

  async pull(spec: ConsumerSpec, waitMs: number): Promise<RawDelivery | undefined> {
    const consumer = await this.consumer(spec);
    const msg = await consumer.next({ expires: Math.max(1000, waitMs) });
    return msg === null ? undefined : toRawDelivery(msg, this.nc);
  }

  // Looking a consumer up costs a request to the server; a worker pulling jobs in a loop reuses it.
  private consumer(spec: ConsumerSpec): Promise<Consumer> {
    const key = `${spec.stream}/${spec.durable}`;
    let consumer = this.consumers.get(key);
    if (consumer === undefined) {
      consumer = this.js.consumers.get(spec.stream, spec.durable);
      consumer.catch(() => this.consumers.delete(key));
      this.consumers.set(key, consumer);
    }
    return consumer;
  }

  async close(): Promise<void> {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    await this.nc.drain();
  }
}

function toRawDelivery(msg: JsMsg, nc: NatsConnection): RawDelivery {
  const headers = headersToRecord(msg.headers);
  return {
    subject: msg.subject,
    id: headers[MSG_ID_HEADER] ?? `${msg.info.stream}:${msg.info.streamSequence}`,
    data: msg.data,
    headers,
    deliveryCount: msg.info.deliveryCount,
    sequence: msg.info.streamSequence,
    ack: async () => {
      // Confirmed: a lost ack would silently turn into a redelivery.
      await msg.ackAck();
    },
    nak: (delayMs) => Promise.resolve(msg.nak(delayMs)),
    working: () => Promise.resolve(msg.working()),
    // The reason only reaches the server's MSG_TERMINATED advisory, and a server before 2.10.4
    // does not take `+TERM <reason>` for a terminate and redelivers the message after the ack
    // wait: such a server gets the plain terminate (callers log the reason themselves). The
    // version is read at the terminate, as a reconnect may land on another server of a cluster.
    term: (reason) =>
      Promise.resolve(serverReadsTermReason(nc.info?.version) ? msg.term(reason) : msg.term()),
  };
}

function headersToRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const key of headers.keys()) out[key] = headers.get(key);
  return out;
}
