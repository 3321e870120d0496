import type { EventCodec } from './codec.js';
import type { PublishOptions, PublishReceipt } from './event-bus.js';

/** A work queue: jobs on `lathe.work.<name>`, each taken by exactly one worker at a time. */
export interface WorkQueueDefinition<T> {
  /** Queue name (letters, digits, `_`, `-`); the stream is `LATHE_WORK_<NAME>`. */
  readonly name: string;
  /** Encodes and decodes jobs. */
  readonly codec: EventCodec<T>;
  /**
   * How long a taken job may go without an acknowledgement or a heartbeat before it is given to
   * another worker. Default 30000 ms.
   */
  readonly ackWaitMs?: number;
  /** Deliveries after which the broker stops redelivering a job. Default 10. */
  readonly maxDeliveries?: number;
}

/** Options for {@link Job.run}. */
export interface RunJobOptions {
  /** Interval between in-progress acknowledgements. Default a third of the ack wait. */
  readonly heartbeatMs?: number;
  /** Delay before the job is offered again when `work` throws. Default 1000 ms. */
  readonly retryDelayMs?: number;
}

/** One job taken from a work queue. Settle it exactly once: ack, nak or term. */
export interface Job<T> {
  /** The job id (`Nats-Msg-Id`). */
  readonly id: string;
  /** The decoded job. */
  readonly message: T;
  /** Headers as published, with `traceparent`. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 the first time a worker takes it; more after a worker died or gave it back. */
  readonly deliveryCount: number;
  /** Extends the ack wait: "still working on it". */
  working(): Promise<void>;
  /** Done: the job is removed from the queue. */
  ack(): Promise<void>;
  /** Gives the job back for redelivery after `delayMs` (default at once). */
  nak(delayMs?: number): Promise<void>;
  /** Gives up on the job for good: it is not redelivered. */
  term(reason?: string): Promise<void>;
  /**
   * Runs `work` in a CONSUMER span (child of the enqueuer's trace), sending in-progress
   * acknowledgements every `heartbeatMs` while it runs; acks when it resolves, naks (with
   * `retryDelayMs`) and rethrows when it throws.
   */
  run<R>(work: (job: Job<T>) => Promise<R>, options?: RunJobOptions): Promise<R>;
}

/** Producer and worker side of one queue. */
export interface WorkQueue<T> {
  /** The queue name. */
  readonly name: string;
  /** Adds a job; the id dedupes like an event id. */
  enqueue(job: T, options?: PublishOptions): Promise<PublishReceipt>;
  /**
   * Takes the next available job, waiting up to `waitMs` (default 5000; JetStream needs at least
   * 1000). Resolves `undefined` when none came.
   */
  take(options?: { readonly waitMs?: number }): Promise<Job<T> | undefined>;
}
