import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import type { EventCodec } from './codec.js';
import { DEAD_LETTER_HEADERS, headerSafe } from './dead-letter.js';
import type {
  DeliveredEvent,
  EventBus,
  EventHandler,
  PublishOptions,
  PublishReceipt,
  SubscribeOptions,
  Subscription,
} from './event-bus.js';
import {
  assertName,
  DEAD_LETTER_STREAM,
  DEAD_LETTER_SUBJECTS,
  deadLetterOf,
  streamName,
  type EventType,
} from './event-type.js';
import { BusError } from './errors.js';
import { TransportJob } from './transport-job.js';
import { backoffDelayMs } from './retry-backoff.js';
import { inMessagingSpan } from './messaging-span.js';
import { publisherContext, withTraceHeaders } from './trace-context.js';
import type { BusTransport, ConsumerSpec, RawDelivery, StreamSpec } from './transport.js';
import type { Job, WorkQueue, WorkQueueDefinition } from './work-queue.js';

/** Settings shared by both bus implementations. */
export interface BusSettings {
  /** Duplicate window of the streams the bus creates. Default 120000 ms (JetStream's default). */
  readonly duplicateWindowMs?: number;
  /**
   * Called with errors that cannot be returned to a caller: an ack, nak or dead letter the broker
   * did not take, a subscription whose feed failed, a dead letter whose own handler gave up.
   * Default: `console.error`.
   */
  readonly onError?: (error: Error) => void;
}

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

/** Where a message goes: enough to publish it and to name it in spans. */
interface Destination {
  readonly stream: string;
  readonly subject: string;
}

// A decode failure will fail the same way on every delivery: dead-letter it at once instead of
// burning the retries.
class UndecodableEventError extends BusError {
  constructor(subject: string, cause: unknown) {
    super(
      `event on "${subject}" could not be decoded: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'UndecodableEventError';
  }
}

/**
 * The {@link EventBus} over any {@link BusTransport}: codecs, ids, trace context, acknowledgement
 * policy and dead letters are implemented here once.
 * @internal
 */
export class TransportEventBus implements EventBus {
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly duplicateWindowMs: number;
  private readonly onError: (error: Error) => void;
  private closed = false;

  constructor(
    private readonly transport: BusTransport,
    settings: BusSettings = {},
  ) {
    this.duplicateWindowMs = settings.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    this.onError = settings.onError ?? ((error) => console.error(error));
  }

  async declareEvents(types: ReadonlyArray<EventType<unknown>>): Promise<void> {
    await Promise.all(
      types.map((type) =>
        this.ensureStream(
          streamSpecFor(type.stream, type.streamSubjects, 'limits', this.duplicateWindowMs),
        ),
      ),
    );
  }

  async publish<T>(
    type: EventType<T>,
    message: T,
    options: PublishOptions = {},
  ): Promise<PublishReceipt> {
    await this.ensureStream(
      streamSpecFor(type.stream, type.streamSubjects, 'limits', this.duplicateWindowMs),
    );
    return this.send(type, type.codec, message, options);
  }

  async subscribe<T>(
    type: EventType<T>,
    handler: EventHandler<T>,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    assertName('durable consumer', options.durable);
    const maxDeliveries = options.maxDeliveries ?? 5;
    if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1) {
      throw new BusError(
        `consumer "${options.durable}": maxDeliveries must be a positive integer, got ${maxDeliveries}`,
      );
    }
    const spec: ConsumerSpec = {
      stream: type.stream,
      durable: options.durable,
      filterSubject: type.subject,
      ackWaitMs: options.ackWaitMs ?? 30_000,
      // One more than the policy allows: the bus dead-letters on delivery `maxDeliveries`; the
      // broker's extra delivery is the backstop for a dead-letter publish that failed.
      maxDeliveries: maxDeliveries + 1,
    };
    await this.ensureStream(
      streamSpecFor(type.stream, type.streamSubjects, 'limits', this.duplicateWindowMs),
    );
    await this.ensureStream(
      // Shared by every service: a fixed window, so buses with other settings do not keep
      // rewriting its configuration.
      streamSpecFor(
        DEAD_LETTER_STREAM,
        DEAD_LETTER_SUBJECTS,
        'limits',
        DEFAULT_DUPLICATE_WINDOW_MS,
      ),
    );
    await this.transport.ensureConsumer(spec);
    const stop = await this.transport.consume(
      spec,
      (error) =>
        this.onError(
          new BusError(`consumer "${spec.durable}" on ${spec.stream} stopped consuming`, {
            cause: error,
          }),
        ),
      (delivery) => this.deliver(type, handler, { ...options, maxDeliveries }, spec, delivery),
    );
    const subscription: Subscription = {
      stop: async () => {
        this.subscriptions.delete(subscription);
        await stop();
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async workQueue<T>(definition: WorkQueueDefinition<T>): Promise<WorkQueue<T>> {
    assertName('work queue', definition.name);
    const destination: Destination = {
      stream: streamName('work', definition.name),
      subject: `lathe.work.${definition.name}`,
    };
    const spec: ConsumerSpec = {
      stream: destination.stream,
      durable: 'workers',
      filterSubject: destination.subject,
      ackWaitMs: definition.ackWaitMs ?? 30_000,
      maxDeliveries: definition.maxDeliveries ?? 10,
    };
    await this.ensureStream(
      streamSpecFor(destination.stream, destination.subject, 'workqueue', this.duplicateWindowMs),
    );
    await this.transport.ensureConsumer(spec);
    return {
      name: definition.name,
      enqueue: (job, options) => this.send(destination, definition.codec, job, options ?? {}),
      take: async (options) => {
        const delivery = await this.transport.pull(spec, options?.waitMs ?? 5000);
        return delivery === undefined ? undefined : this.toJob(definition.codec, spec, delivery);
      },
    };
  }

  /** Idempotent: a second call resolves at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.transport.close();
  }

  private ensureStream(spec: StreamSpec): Promise<void> {
    let ready = this.ensured.get(spec.name);
    if (ready === undefined) {
      ready = this.transport.ensureStream(spec);
      // A failed creation must not be cached: the next call tries again.
      ready.catch(() => this.ensured.delete(spec.name));
      this.ensured.set(spec.name, ready);
    }
    return ready;
  }

  private send<T>(
    destination: Destination,
    codec: EventCodec<T>,
    message: T,
    options: PublishOptions,
  ): Promise<PublishReceipt> {
    const id = options.id ?? randomUUID();
    const data = codec.encode(message).finish();
    return inMessagingSpan(
      'send',
      destination.subject,
      {
        'messaging.system': this.transport.system,
        'messaging.message.id': id,
        'messaging.message.body.size': data.byteLength,
      },
      context.active(),
      async () => {
        const headers = withTraceHeaders(options.headers ?? {});
        const stored = await this.transport.publish({
          stream: destination.stream,
          subject: destination.subject,
          id,
          data,
          headers,
        });
        return {
          id,
          subject: destination.subject,
          sequence: stored.sequence,
          duplicate: stored.duplicate,
        };
      },
    );
  }

  private async deliver<T>(
    type: EventType<T>,
    handler: EventHandler<T>,
    options: SubscribeOptions & { maxDeliveries: number },
    spec: ConsumerSpec,
    delivery: RawDelivery,
  ): Promise<void> {
    let failure: { error: unknown } | undefined;
    try {
      await inMessagingSpan(
        'process',
        delivery.subject,
        this.deliveryAttributes(spec, delivery),
        publisherContext(delivery.headers),
        async () => {
          let message: T;
          try {
            message = type.codec.decode(delivery.data);
          } catch (error) {
            throw new UndecodableEventError(delivery.subject, error);
          }
          await handler(toDeliveredEvent(delivery, message));
        },
      );
    } catch (error) {
      failure = { error };
    }
    // Settling is kept apart from handling: an ack the broker did not confirm must not count as a
    // failed delivery (and, on the last one, dead-letter an event that was handled).
    try {
      if (failure === undefined) {
        await delivery.ack();
      } else if (
        failure.error instanceof UndecodableEventError ||
        delivery.deliveryCount >= options.maxDeliveries
      ) {
        await this.deadLetter(type, spec, delivery, failure.error);
      } else {
        await delivery.nak(backoffDelayMs(options.backoff, delivery.deliveryCount));
      }
    } catch (settleError) {
      // The broker did not take the ack, nak or dead letter (connection lost): the event stays
      // unacknowledged and comes back after the ack wait, so nothing is lost; say so.
      this.onError(
        new BusError(
          `consumer "${spec.durable}" could not settle event ${delivery.id} on "${delivery.subject}"`,
          { cause: settleError },
        ),
      );
    }
  }

  private async deadLetter<T>(
    type: EventType<T>,
    spec: ConsumerSpec,
    delivery: RawDelivery,
    error: unknown,
  ): Promise<void> {
    const lastError = headerSafe(error instanceof Error ? error.message : String(error));
    if (type.stream === DEAD_LETTER_STREAM) {
      // A dead letter whose own handler gave up: publishing it again would feed it back to the
      // same consumer for ever. Terminate it and say so.
      await delivery.term(`dead letter abandoned after ${delivery.deliveryCount} deliveries`);
      this.onError(
        new BusError(
          `consumer "${spec.durable}" gave up on dead letter ${delivery.id} on "${delivery.subject}" after ${delivery.deliveryCount} deliveries: ${lastError}`,
        ),
      );
      return;
    }
    const headers: Record<string, string> = {
      ...delivery.headers,
      [DEAD_LETTER_HEADERS.subject]: delivery.subject,
      [DEAD_LETTER_HEADERS.eventId]: delivery.id,
      [DEAD_LETTER_HEADERS.consumer]: spec.durable,
      [DEAD_LETTER_HEADERS.deliveries]: String(delivery.deliveryCount),
      [DEAD_LETTER_HEADERS.error]: lastError,
    };
    const target = deadLetterOf(type);
    // The id is derived from the event and the consumer, so a dead letter published twice (the
    // term below lost, the event delivered again) is stored once.
    await this.transport.publish({
      stream: target.stream,
      subject: target.subject,
      id: `${delivery.id}:${spec.durable}`,
      data: delivery.data,
      headers: withTraceHeaders(withoutTraceHeaders(headers), publisherContext(delivery.headers)),
    });
    await delivery.term(`dead-lettered after ${delivery.deliveryCount} deliveries: ${lastError}`);
  }

  private toJob<T>(codec: EventCodec<T>, spec: ConsumerSpec, delivery: RawDelivery): Job<T> {
    let message: T;
    try {
      message = codec.decode(delivery.data);
    } catch (error) {
      // Offering an undecodable job to the next worker cannot help.
      void delivery.term('undecodable job').catch(() => undefined);
      throw new UndecodableEventError(delivery.subject, error);
    }
    return new TransportJob(
      message,
      delivery,
      spec.ackWaitMs,
      this.deliveryAttributes(spec, delivery),
    );
  }

  private deliveryAttributes(
    spec: ConsumerSpec,
    delivery: RawDelivery,
  ): Record<string, string | number> {
    return {
      'messaging.system': this.transport.system,
      'messaging.consumer.group.name': spec.durable,
      'messaging.destination.subscription.name': spec.durable,
      'messaging.message.id': delivery.id,
      'messaging.message.body.size': delivery.data.byteLength,
      'lathe.messaging.delivery_count': delivery.deliveryCount,
    };
  }
}

function streamSpecFor(
  name: string,
  subjects: string,
  retention: StreamSpec['retention'],
  duplicateWindowMs: number,
): StreamSpec {
  return { name, subjects, retention, duplicateWindowMs };
}

function toDeliveredEvent<T>(delivery: RawDelivery, message: T): DeliveredEvent<T> {
  return {
    id: delivery.id,
    subject: delivery.subject,
    message,
    headers: delivery.headers,
    deliveryCount: delivery.deliveryCount,
    sequence: delivery.sequence,
  };
}

function withoutTraceHeaders(headers: Record<string, string>): Record<string, string> {
  const { traceparent: _p, tracestate: _s, ...rest } = headers;
  return rest;
}
