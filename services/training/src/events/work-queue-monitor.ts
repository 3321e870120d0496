// Watching the trainers' work queues on JetStream for messages it gave up on. When a message was
// delivered max_deliver times without being acked, JetStream publishes a MAX_DELIVERIES advisory
// and never delivers it again (nats-server 2.9 keeps it in the WorkQueue stream). The advisories
// are plain NATS messages, lost while nobody listens, so they are also captured in a stream of
// our own: a service that was down reads them when it comes back. Only the JetStream API's JSON
// requests are used: this package depends on the NATS transport, not on the JetStream client.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { trainingQueueName } from './training-events.js';

/** The stream capturing the work queues' MAX_DELIVERIES advisories. */
export const EXHAUSTED_ADVISORY_STREAM = 'LATHE_TRAINING_EXHAUSTED';

/** How long a captured advisory is kept when nobody handles it: 7 days. */
const ADVISORY_MAX_AGE_NS = 7 * 24 * 3600 * 1e9;

// The bus's work-queue naming (libs/bus README): stream LATHE_WORK_<NAME>, durable `workers`.
const WORK_CONSUMER = 'workers';
const WORK_STREAMS: readonly string[] = (['cpu', 'cuda'] as const).map(
  (device) => `LATHE_WORK_${trainingQueueName(device).toUpperCase().replaceAll('-', '_')}`,
);

// JetStream API error codes (nats-server's errors.json).
const NO_MESSAGE_FOUND = 10037;
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/** A work message JetStream stopped delivering after its last allowed delivery. */
export interface ExhaustedWorkMessage {
  /** The work-queue stream, e.g. `LATHE_WORK_TRAINING_CPU`. */
  readonly stream: string;
  /** Where the JobQueued message is stored in that stream. */
  readonly streamSequence: number;
  /** Deliveries made (the consumer's max_deliver). */
  readonly deliveries: number;
  /** Where the advisory is stored in {@link EXHAUSTED_ADVISORY_STREAM}; absent when live. */
  readonly advisorySequence?: number;
}

/** A JobQueued message still stored in a work-queue stream. */
export interface StoredWorkMessage {
  readonly stream: string;
  readonly streamSequence: number;
  readonly job: JobQueued;
}

/** What the stranded-job sweep needs from the work queues (see {@link WorkQueueMonitor}). */
export interface WorkQueueWatch {
  /** Calls `handler` for each advisory published from now on, until closed. */
  onExhausted(handler: (message: ExhaustedWorkMessage) => void): void;
  /** Captured advisories not yet forgotten, oldest first. */
  capturedExhausted(): Promise<ExhaustedWorkMessage[]>;
  /** Removes a captured advisory once handled. */
  forgetExhausted(advisorySequence: number): Promise<void>;
  /** The JobQueued stored at `sequence` of `stream`, or undefined when it is no longer there. */
  workMessage(stream: string, sequence: number): Promise<JobQueued | undefined>;
  /** Removes a work message nobody will take again. */
  removeWorkMessage(stream: string, sequence: number): Promise<void>;
  /** Every JobQueued message stored in the training work queues. */
  storedWorkMessages(): Promise<StoredWorkMessage[]>;
  /** Stops the live subscription. */
  close(): Promise<void>;
}

interface ApiError {
  readonly code: number;
  readonly err_code: number;
  readonly description: string;
}

interface StoredMessage {
  readonly seq: number;
  readonly data?: string;
}

interface MaxDeliveriesAdvisory {
  readonly stream: string;
  readonly stream_seq: number;
  readonly deliveries: number;
}

/** Thrown when the JetStream API answers with an error other than the expected "not found". */
export class JetStreamApiRequestError extends Error {
  override readonly name = 'JetStreamApiRequestError';
  constructor(
    readonly subject: string,
    readonly error: ApiError,
  ) {
    super(`JetStream API ${subject}: ${error.description} (${String(error.err_code)})`);
  }
}

/** {@link WorkQueueWatch} over a NATS connection with JetStream. */
export class WorkQueueMonitor implements WorkQueueWatch {
  private readonly subscriptions: Subscription[] = [];

  private constructor(private readonly nc: NatsConnection) {}

  /** Creates the advisory-capturing stream when missing; the caller owns `nc`. */
  static async open(nc: NatsConnection): Promise<WorkQueueMonitor> {
    const monitor = new WorkQueueMonitor(nc);
    const created = await monitor.api<object>(
      `$JS.API.STREAM.CREATE.${EXHAUSTED_ADVISORY_STREAM}`,
      {
        name: EXHAUSTED_ADVISORY_STREAM,
        subjects: WORK_STREAMS.map(advisorySubject),
        retention: 'limits',
        storage: 'file',
        max_age: ADVISORY_MAX_AGE_NS,
      },
    );
    if ('error' in created && created.error.err_code !== STREAM_NAME_IN_USE)
      throw new JetStreamApiRequestError('STREAM.CREATE', created.error);
    return monitor;
  }

  onExhausted(handler: (message: ExhaustedWorkMessage) => void): void {
    for (const stream of WORK_STREAMS) {
      const sub = this.nc.subscribe(advisorySubject(stream), {
        callback: (error, msg) => {
          if (error === null) handler(toExhausted(msg.json<MaxDeliveriesAdvisory>()));
        },
      });
      this.subscriptions.push(sub);
    }
  }

  async capturedExhausted(): Promise<ExhaustedWorkMessage[]> {
    const found: ExhaustedWorkMessage[] = [];
    for (const stored of await this.storedMessages(EXHAUSTED_ADVISORY_STREAM)) {
      const advisory = JSON.parse(decodeBase64(stored.data).toString()) as MaxDeliveriesAdvisory;
      found.push({ ...toExhausted(advisory), advisorySequence: stored.seq });
    }
    return found;
  }

  async forgetExhausted(advisorySequence: number): Promise<void> {
    await this.deleteMessage(EXHAUSTED_ADVISORY_STREAM, advisorySequence);
  }

  async workMessage(stream: string, sequence: number): Promise<JobQueued | undefined> {
    const answer = await this.api<{ message: StoredMessage }>(`$JS.API.STREAM.MSG.GET.${stream}`, {
      seq: sequence,
    });
    if ('error' in answer) {
      if (isNotFound(answer.error)) return undefined;
      throw new JetStreamApiRequestError(`STREAM.MSG.GET.${stream}`, answer.error);
    }
    return JobQueued.decode(decodeBase64(answer.message.data));
  }

  async removeWorkMessage(stream: string, sequence: number): Promise<void> {
    await this.deleteMessage(stream, sequence);
  }

  async storedWorkMessages(): Promise<StoredWorkMessage[]> {
    const found: StoredWorkMessage[] = [];
    for (const stream of WORK_STREAMS)
      for (const stored of await this.storedMessages(stream))
        found.push({
          stream,
          streamSequence: stored.seq,
          job: JobQueued.decode(decodeBase64(stored.data)),
        });
    return found;
  }

  async close(): Promise<void> {
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    return Promise.resolve();
  }

  // Walks a stream from its start: each request returns the first message at or after `seq`
  // (`next_by_subj` with the wildcard skips deleted sequences), until none is left.
  private async storedMessages(stream: string): Promise<StoredMessage[]> {
    const found: StoredMessage[] = [];
    for (let seq = 1; ;) {
      const answer = await this.api<{ message: StoredMessage }>(
        `$JS.API.STREAM.MSG.GET.${stream}`,
        { seq, next_by_subj: '>' },
      );
      if ('error' in answer) {
        if (isNotFound(answer.error)) return found;
        throw new JetStreamApiRequestError(`STREAM.MSG.GET.${stream}`, answer.error);
      }
      found.push(answer.message);
      seq = answer.message.seq + 1;
    }
  }

  private async deleteMessage(stream: string, sequence: number): Promise<void> {
    const answer = await this.api<object>(`$JS.API.STREAM.MSG.DELETE.${stream}`, {
      seq: sequence,
      no_erase: true,
    });
    if ('error' in answer && !isNotFound(answer.error))
      throw new JetStreamApiRequestError(`STREAM.MSG.DELETE.${stream}`, answer.error);
  }

  private async api<T extends object>(
    subject: string,
    body: object,
  ): Promise<T | { error: ApiError }> {
    const reply = await this.nc.request(subject, JSON.stringify(body), { timeout: 5000 });
    return reply.json<T | { error: ApiError }>();
  }
}

function advisorySubject(stream: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${WORK_CONSUMER}`;
}

function toExhausted(advisory: MaxDeliveriesAdvisory): ExhaustedWorkMessage {
  return {
    stream: advisory.stream,
    streamSequence: advisory.stream_seq,
    deliveries: advisory.deliveries,
  };
}

// A message, or the stream itself, being absent both mean "nothing stored there".
function isNotFound(error: ApiError): boolean {
  return error.err_code === NO_MESSAGE_FOUND || error.err_code === STREAM_NOT_FOUND;
}

function decodeBase64(data: string | undefined): Buffer {
  return Buffer.from(data ?? '', 'base64');
}
