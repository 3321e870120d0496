import type { EventBus } from '@lathe/bus';
import type { Logger } from '@lathe/service-kit';
import type { SqlClient, SqlExecutor } from '@lathe/store';
import { PREFERENCE_EVENTS } from './preference-events.js';
import type { PreferenceEventName } from './preference-events.js';

type MessageOf<N extends PreferenceEventName> = Parameters<
  (typeof PREFERENCE_EVENTS)[N]['codec']['encode']
>[0];

/**
 * Writes an event in the caller's transaction: it exists if and only if the fact it reports was
 * committed. The relay publishes it afterwards with `eventId` as Nats-Msg-Id.
 */
export async function enqueueEvent<N extends PreferenceEventName>(
  tx: SqlExecutor,
  name: N,
  eventId: string,
  message: MessageOf<N>,
): Promise<void> {
  const codec = PREFERENCE_EVENTS[name].codec as {
    encode(m: MessageOf<N>): { finish(): Uint8Array };
  };
  await tx.query('INSERT INTO outbox (event_id, event, payload) VALUES ($1, $2, $3)', [
    eventId,
    name,
    codec.encode(message).finish(),
  ]);
}

/**
 * Publishes outbox rows in order, marking each once the bus acknowledged it. Kicked after each
 * commit and every `intervalMs`, so events written while the bus was down go out when it is back.
 * Several replicas may publish the same row: the bus drops the duplicate by its id.
 */
export class OutboxRelay {
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: SqlClient,
    private readonly bus: EventBus,
    private readonly log: Logger,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
  }

  /** Schedules a flush (coalesced with one already waiting). */
  kick(): void {
    if (this.pending) return;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      try {
        await this.flush();
      } catch (error) {
        this.log.warn('event relay could not publish; will retry', {
          error: error instanceof Error ? error : new Error(String(error)),
        });
      }
    });
  }

  /** Waits until every event enqueued before this call has been published. */
  async drain(): Promise<void> {
    this.kick();
    await this.running;
  }

  /** Stops the timer after the flush in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async flush(): Promise<void> {
    for (;;) {
      const { rows } = await this.db.query<{
        seq: bigint;
        event_id: string;
        event: string;
        payload: Uint8Array;
      }>(
        'SELECT seq, event_id, event, payload FROM outbox WHERE publish_time IS NULL ORDER BY seq LIMIT 100',
      );
      if (rows.length === 0) return;
      // Published in order; the rows that made it are marked in one statement, even when a later
      // one fails (a row published twice is dropped by JetStream's deduplication on its id).
      const published: bigint[] = [];
      try {
        for (const row of rows) {
          const type = PREFERENCE_EVENTS[row.event as PreferenceEventName] as
            (typeof PREFERENCE_EVENTS)[PreferenceEventName] | undefined;
          if (type === undefined)
            throw new Error(`outbox row ${String(row.seq)} holds unknown event "${row.event}"`);
          const message: unknown = type.codec.decode(row.payload);
          await this.bus.publish(type as never, message as never, { id: row.event_id });
          published.push(row.seq);
        }
      } finally {
        if (published.length > 0)
          await this.db.query(
            'UPDATE outbox SET publish_time = now() WHERE seq = ANY($1::bigint[])',
            [published.map(String)],
          );
      }
    }
  }
}
