import type { Attributes } from '@opentelemetry/api';
import { inMessagingSpan } from './messaging-span.js';
import { publisherContext } from './trace-context.js';
import type { RawDelivery } from './transport.js';
import type { Job, RunJobOptions } from './work-queue.js';

/** A {@link Job} over one raw delivery. @internal */
export class TransportJob<T> implements Job<T> {
  readonly id: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly deliveryCount: number;

  constructor(
    readonly message: T,
    private readonly delivery: RawDelivery,
    private readonly ackWaitMs: number,
    private readonly spanAttributes: Attributes,
  ) {
    this.id = delivery.id;
    this.headers = delivery.headers;
    this.deliveryCount = delivery.deliveryCount;
  }

  working(): Promise<void> {
    return this.delivery.working();
  }

  ack(): Promise<void> {
    return this.delivery.ack();
  }

  nak(delayMs = 0): Promise<void> {
    return this.delivery.nak(delayMs);
  }

  term(reason = 'terminated by worker'): Promise<void> {
    return this.delivery.term(reason);
  }

  run<R>(work: (job: Job<T>) => Promise<R>, options: RunJobOptions = {}): Promise<R> {
    const heartbeatMs = options.heartbeatMs ?? Math.max(100, Math.floor(this.ackWaitMs / 3));
    return inMessagingSpan(
      'process',
      this.delivery.subject,
      this.spanAttributes,
      publisherContext(this.headers),
      async () => {
        // A missed heartbeat is not fatal (the next one or the ack may still arrive in time), so
        // failures here are ignored rather than aborting the work.
        const heartbeat = setInterval(
          () => void this.working().catch(() => undefined),
          heartbeatMs,
        );
        let result: R;
        try {
          result = await work(this);
        } catch (error) {
          clearInterval(heartbeat);
          await this.nak(options.retryDelayMs ?? 1000);
          throw error;
        }
        clearInterval(heartbeat);
        await this.ack();
        return result;
      },
    );
  }
}
