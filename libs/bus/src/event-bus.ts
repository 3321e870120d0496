import type { EventType } from './event-type.js';
import type { WorkQueue, WorkQueueDefinition } from './work-queue.js';

/** Options for one publish. */
export interface PublishOptions {
  /**
   * The event id, sent as `Nats-Msg-Id`: a second publish with the same id inside the stream's
   * duplicate window is dropped. Default: a fresh UUID. Pass a stable id (e.g. derived from the
   * database row) to make a retried operation publish at most once.
   */
  readonly id?: string;
  /** Extra headers; the bus adds `traceparent`/`tracestate` from the active context. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What the broker said about a publish. */
export interface PublishReceipt {
  /** The event id used as `Nats-Msg-Id`. */
  readonly id: string;
  /** Where it went, `lathe.<service>.<event>`. */
  readonly subject: string;
  /** The stream sequence the event is stored at (the original one for a duplicate). */
  readonly sequence: number;
  /** True when the id was already in the duplicate window and this publish was dropped. */
  readonly duplicate: boolean;
}

/** An event handed to a handler. */
export interface DeliveredEvent<T> {
  /** The event id (`Nats-Msg-Id`). */
  readonly id: string;
  /** The subject it was published on. */
  readonly subject: string;
  /** The decoded payload. */
  readonly message: T;
  /** All headers, including `traceparent` and, on dead letters, the `Lathe-Dead-Letter-*` ones. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
  /** Position in the stream. */
  readonly sequence: number;
}

/** A handler: resolve to have the event acknowledged, throw to have it redelivered later. */
export type EventHandler<T> = (event: DeliveredEvent<T>) => Promise<void>;

/** Redelivery delays after a handler failure: `initialMs * factor^(delivery-1)`, at most `maxMs`. */
export interface RetryBackoff {
  /** Delay before the second delivery. Default 1000 ms. */
  readonly initialMs?: number;
  /** Growth per further failure. Default 2. */
  readonly factor?: number;
  /** Upper bound on one delay. Default 60000 ms. */
  readonly maxMs?: number;
}

/** How a durable consumer behaves. */
export interface SubscribeOptions {
  /**
   * The durable consumer name (letters, digits, `_`, `-`): a new subscription with the same name
   * resumes after the last acknowledged event. Name it after the reacting component, e.g.
   * `training-on-version-created`.
   */
  readonly durable: string;
  /**
   * Deliveries before giving up: after the last failed one, the event is published as a dead
   * letter on `lathe.deadletter.<service>.<event>` and terminated. Default 5.
   */
  readonly maxDeliveries?: number;
  /** Delays between failed deliveries. */
  readonly backoff?: RetryBackoff;
  /**
   * How long an unacknowledged delivery (crashed consumer) waits before redelivery. Default
   * 30000 ms.
   */
  readonly ackWaitMs?: number;
}

/** A running subscription. */
export interface Subscription {
  /** Stops taking events; resolves after the handler in progress (if any) finished. */
  stop(): Promise<void>;
}

/**
 * Typed publish/subscribe of protobuf events. Two implementations: NATS JetStream
 * (`connectJetStreamBus`) and in-process (`InProcessBroker.connect`); both pass the same
 * conformance suite.
 */
export interface EventBus {
  /**
   * Creates (or brings up to date) the streams of these event types now, so that a service can
   * fail at start rather than on its first publish. Idempotent; `publish` and `subscribe` do the
   * same lazily.
   */
  declareEvents(types: ReadonlyArray<EventType<unknown>>): Promise<void>;
  /**
   * Publishes one event. Creates the service's stream on first use. With JetStream, a failed
   * publish is retried with the same id, so a retry never stores the event twice.
   */
  publish<T>(type: EventType<T>, message: T, options?: PublishOptions): Promise<PublishReceipt>;
  /**
   * Starts a durable consumer for one event type. Events are handled one at a time, in stream
   * order; the event is acknowledged after `handler` resolves, redelivered with backoff after it
   * throws, and dead-lettered after `maxDeliveries`. Each delivery runs in a CONSUMER span whose
   * parent is the publisher's trace context.
   */
  subscribe<T>(
    type: EventType<T>,
    handler: EventHandler<T>,
    options: SubscribeOptions,
  ): Promise<Subscription>;
  /** Opens (creating if needed) a work queue of jobs. */
  workQueue<T>(definition: WorkQueueDefinition<T>): Promise<WorkQueue<T>>;
  /** Stops all subscriptions and releases the connection. */
  close(): Promise<void>;
}
