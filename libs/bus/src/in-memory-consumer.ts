import type { InMemoryStream } from './in-memory-stream.js';
import type { ConsumerSpec, RawDelivery } from './transport.js';

/** A delivered, not yet settled message. */
interface Pending {
  deliveries: number;
  /** When it may be delivered again: the ack deadline, or earlier after a nak. */
  redeliverAt: number;
}

/**
 * A durable consumer in memory, with JetStream's semantics: explicit acks, redelivery after the
 * ack wait or a nak (redeliveries first, then new messages in stream order), in-progress acks
 * pushing the deadline, no redelivery past `maxDeliveries`.
 * @internal
 */
export class InMemoryConsumer {
  /** The next never-delivered stream sequence to look at. */
  private cursor = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly stream: InMemoryStream,
    public spec: ConsumerSpec,
  ) {}

  /** Wakes every waiting `next` to look again (a message arrived or became due). */
  wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /**
   * The next deliverable message, waiting until `deadline` (epoch ms) or until `signal` aborts.
   */
  async next(deadline: number, signal?: AbortSignal): Promise<RawDelivery | undefined> {
    for (;;) {
      if (signal?.aborted === true) return undefined;
      const now = Date.now();
      const delivery = this.take(now);
      if (delivery !== undefined) return delivery;
      if (now >= deadline) return undefined;
      await this.waitUntil(Math.min(deadline, this.earliestRedelivery()), signal);
    }
  }

  private take(now: number): RawDelivery | undefined {
    for (const [sequence, entry] of [...this.pending].sort(([a], [b]) => a - b)) {
      if (entry.redeliverAt > now) continue;
      const message = this.stream.get(sequence);
      if (message === undefined || entry.deliveries >= this.spec.maxDeliveries) {
        // Out of deliveries: like JetStream, stop offering it (it stays in the stream).
        this.pending.delete(sequence);
        continue;
      }
      return this.deliver(sequence, entry, now);
    }
    const message = this.stream.firstFrom(this.cursor, this.spec.filterSubject);
    if (message === undefined) return undefined;
    this.cursor = message.sequence + 1;
    const entry: Pending = { deliveries: 0, redeliverAt: 0 };
    this.pending.set(message.sequence, entry);
    return this.deliver(message.sequence, entry, now);
  }

  private deliver(sequence: number, entry: Pending, now: number): RawDelivery {
    const message = this.stream.get(sequence);
    if (message === undefined) throw new Error(`in-memory stream lost sequence ${sequence}`);
    entry.deliveries += 1;
    entry.redeliverAt = now + this.spec.ackWaitMs;
    // Settling acts only while this delivery is the current one: a worker that lost the message
    // to the ack wait cannot ack the copy another worker now holds.
    const deliveries = entry.deliveries;
    const current = (): Pending | undefined => {
      const live = this.pending.get(sequence);
      return live !== undefined && live.deliveries === deliveries ? live : undefined;
    };
    const settle = (): void => {
      if (current() === undefined) return;
      this.pending.delete(sequence);
      this.stream.settled(sequence);
    };
    return {
      subject: message.subject,
      id: message.id,
      data: message.data,
      headers: message.headers,
      deliveryCount: deliveries,
      sequence,
      ack: () => Promise.resolve(settle()),
      term: () => Promise.resolve(settle()),
      nak: (delayMs) => {
        const live = current();
        if (live !== undefined) {
          live.redeliverAt = Date.now() + delayMs;
          this.wake();
        }
        return Promise.resolve();
      },
      working: () => {
        const live = current();
        if (live !== undefined) live.redeliverAt = Date.now() + this.spec.ackWaitMs;
        return Promise.resolve();
      },
    };
  }

  private earliestRedelivery(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const entry of this.pending.values()) earliest = Math.min(earliest, entry.redeliverAt);
    return earliest;
  }

  private waitUntil(until: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = Number.isFinite(until)
        ? setTimeout(done, Math.max(0, until - Date.now()))
        : undefined;
      this.waiters.add(done);
      signal?.addEventListener('abort', done);
    });
  }
}
