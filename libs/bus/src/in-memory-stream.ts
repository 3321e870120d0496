import { BusError } from './errors.js';
import { InMemoryConsumer } from './in-memory-consumer.js';
import { subjectMatches } from './subject-match.js';
import type { ConsumerSpec, OutgoingMessage, StreamSpec } from './transport.js';

/** A message as the in-memory stream stores it. @internal */
export interface StoredMessage {
  readonly sequence: number;
  readonly subject: string;
  readonly id: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * One stream held in memory: an append-only log (work-queue streams drop a message once it is
 * acknowledged), a duplicate window over ids, and its durable consumers, which outlive the
 * subscriptions that use them.
 * @internal
 */
export class InMemoryStream {
  private readonly messages = new Map<number, StoredMessage>();
  private readonly seenIds = new Map<string, { sequence: number; at: number }>();
  private readonly consumers = new Map<string, InMemoryConsumer>();
  private lastSequence = 0;

  constructor(public spec: StreamSpec) {}

  store(message: OutgoingMessage, now: number): { sequence: number; duplicate: boolean } {
    if (!subjectMatches(this.spec.subjects, message.subject)) {
      throw new BusError(
        `subject "${message.subject}" is not part of stream ${this.spec.name} ("${this.spec.subjects}")`,
      );
    }
    this.forgetIdsBefore(now - this.spec.duplicateWindowMs);
    const seen = this.seenIds.get(message.id);
    if (seen !== undefined) return { sequence: seen.sequence, duplicate: true };
    const sequence = ++this.lastSequence;
    this.messages.set(sequence, {
      sequence,
      subject: message.subject,
      id: message.id,
      data: message.data,
      headers: message.headers,
    });
    this.seenIds.set(message.id, { sequence, at: now });
    for (const consumer of this.consumers.values()) consumer.wake();
    return { sequence, duplicate: false };
  }

  /** The first stored message at or after `from` on `filter`, if any. */
  firstFrom(from: number, filter: string): StoredMessage | undefined {
    for (let seq = from; seq <= this.lastSequence; seq++) {
      const message = this.messages.get(seq);
      if (message !== undefined && subjectMatches(filter, message.subject)) return message;
    }
    return undefined;
  }

  get(sequence: number): StoredMessage | undefined {
    return this.messages.get(sequence);
  }

  /** Called when a consumer is done with a message for good (ack or term). */
  settled(sequence: number): void {
    if (this.spec.retention === 'workqueue') this.messages.delete(sequence);
  }

  consumer(spec: ConsumerSpec): InMemoryConsumer {
    let consumer = this.consumers.get(spec.durable);
    if (consumer === undefined) {
      consumer = new InMemoryConsumer(this, spec);
      this.consumers.set(spec.durable, consumer);
    } else if (consumer.spec.filterSubject !== spec.filterSubject) {
      throw new BusError(
        `consumer ${spec.durable} on ${this.spec.name} already filters "${consumer.spec.filterSubject}", not "${spec.filterSubject}": use another durable name`,
      );
    } else {
      consumer.spec = spec;
    }
    return consumer;
  }

  existingConsumer(durable: string): InMemoryConsumer {
    const consumer = this.consumers.get(durable);
    if (consumer === undefined)
      throw new BusError(`consumer ${durable} not found on stream ${this.spec.name}`);
    return consumer;
  }

  private forgetIdsBefore(cutoff: number): void {
    // Insertion order is publish order, so the oldest ids come first.
    for (const [id, seen] of this.seenIds) {
      if (seen.at >= cutoff) break;
      this.seenIds.delete(id);
    }
  }
}
