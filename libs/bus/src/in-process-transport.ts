import { BusError } from './errors.js';
import { InMemoryStream } from './in-memory-stream.js';
import type {
  BusTransport,
  ConsumerSpec,
  OutgoingMessage,
  RawDelivery,
  StreamSpec,
} from './transport.js';

/**
 * {@link BusTransport} over streams held in memory by an `InProcessBroker`; many transports
 * (one per `connect`) share one broker's streams, as many clients share one NATS server.
 * @internal
 */
export class InProcessTransport implements BusTransport {
  readonly system = 'lathe_in_process';
  private readonly loops = new Set<AbortController>();

  constructor(private readonly streams: Map<string, InMemoryStream>) {}

  ensureStream(spec: StreamSpec): Promise<void> {
    const existing = this.streams.get(spec.name);
    if (existing === undefined) {
      this.streams.set(spec.name, new InMemoryStream(spec));
    } else if (existing.spec.retention !== spec.retention) {
      return Promise.reject(
        new BusError(
          `stream ${spec.name} exists with ${existing.spec.retention} retention, not ${spec.retention}`,
        ),
      );
    } else {
      existing.spec = spec;
    }
    return Promise.resolve();
  }

  publish(message: OutgoingMessage): Promise<{ sequence: number; duplicate: boolean }> {
    try {
      return Promise.resolve(this.stream(message.stream).store(message, Date.now()));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new BusError(String(error)));
    }
  }

  ensureConsumer(spec: ConsumerSpec): Promise<void> {
    try {
      this.stream(spec.stream).consumer(spec);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new BusError(String(error)));
    }
  }

  consume(
    spec: ConsumerSpec,
    onFailure: (error: unknown) => void,
    onDelivery: (delivery: RawDelivery) => Promise<void>,
  ): Promise<() => Promise<void>> {
    const consumer = this.stream(spec.stream).existingConsumer(spec.durable);
    const controller = new AbortController();
    this.loops.add(controller);
    const loop = (async () => {
      while (!controller.signal.aborted) {
        const delivery = await consumer.next(Number.POSITIVE_INFINITY, controller.signal);
        if (delivery !== undefined) await onDelivery(delivery);
      }
    })().catch(onFailure);
    return Promise.resolve(async () => {
      controller.abort();
      this.loops.delete(controller);
      await loop;
    });
  }

  pull(spec: ConsumerSpec, waitMs: number): Promise<RawDelivery | undefined> {
    return this.stream(spec.stream)
      .existingConsumer(spec.durable)
      .next(Date.now() + waitMs);
  }

  close(): Promise<void> {
    for (const controller of this.loops) controller.abort();
    this.loops.clear();
    return Promise.resolve();
  }

  private stream(name: string): InMemoryStream {
    const stream = this.streams.get(name);
    if (stream === undefined) throw new BusError(`stream ${name} does not exist`);
    return stream;
  }
}
