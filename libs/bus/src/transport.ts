/**
 * What the typed bus needs from a broker. Two implementations, JetStream and in-process; all the
 * semantics that are not the broker's (codecs, trace context, retry policy, dead letters) live
 * once, in the typed bus above this interface, so both buses behave the same by construction.
 * @internal
 */
export interface BusTransport {
  /** `messaging.system` for spans: `nats`, or `lathe_in_process`. */
  readonly system: string;
  /** Creates or updates a stream; idempotent. */
  ensureStream(spec: StreamSpec): Promise<void>;
  /** Stores one message; `id` dedupes within the stream's duplicate window. */
  publish(message: OutgoingMessage): Promise<{ sequence: number; duplicate: boolean }>;
  /** Creates or updates a durable consumer; idempotent. */
  ensureConsumer(spec: ConsumerSpec): Promise<void>;
  /**
   * Feeds the consumer's messages to `onDelivery`, one at a time (the next is not handed over
   * before the previous promise settled), until the returned stop function is called. If the
   * feed itself fails (not `onDelivery`, which must not throw), `onFailure` is told.
   */
  consume(
    spec: ConsumerSpec,
    onFailure: (error: unknown) => void,
    onDelivery: (delivery: RawDelivery) => Promise<void>,
  ): Promise<() => Promise<void>>;
  /** Pulls one message from the consumer, waiting up to `waitMs`. */
  pull(spec: ConsumerSpec, waitMs: number): Promise<RawDelivery | undefined>;
  /** Releases the connection. */
  close(): Promise<void>;
}

/** @internal */
export interface StreamSpec {
  readonly name: string;
  /** Subject filter, e.g. `lathe.datasets.>`. */
  readonly subjects: string;
  readonly retention: 'limits' | 'workqueue';
  readonly duplicateWindowMs: number;
}

/** @internal */
export interface OutgoingMessage {
  readonly stream: string;
  readonly subject: string;
  readonly id: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** @internal */
export interface ConsumerSpec {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
}

/** One delivery of a stored message, with its settlement operations. @internal */
export interface RawDelivery {
  readonly subject: string;
  readonly id: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly deliveryCount: number;
  readonly sequence: number;
  ack(): Promise<void>;
  nak(delayMs: number): Promise<void>;
  working(): Promise<void>;
  term(reason: string): Promise<void>;
}
