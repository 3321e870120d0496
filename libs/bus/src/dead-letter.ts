import type { DeliveredEvent } from './event-bus.js';

/** Headers a dead letter carries besides the original ones. */
export const DEAD_LETTER_HEADERS = {
  /** Subject the event was originally published on. */
  subject: 'Lathe-Dead-Letter-Subject',
  /** Id of the original event. */
  eventId: 'Lathe-Dead-Letter-Event-Id',
  /** Durable consumer that gave up. */
  consumer: 'Lathe-Dead-Letter-Consumer',
  /** How many deliveries were tried. */
  deliveries: 'Lathe-Dead-Letter-Deliveries',
  /** Message of the last handler error (one line, at most 1024 characters). */
  error: 'Lathe-Dead-Letter-Error',
} as const;

/** Why an event ended up as a dead letter. */
export interface DeadLetterInfo {
  readonly originalSubject: string;
  readonly originalId: string;
  readonly consumer: string;
  readonly deliveries: number;
  readonly lastError: string;
}

/** Reads the dead-letter headers of an event received on a `lathe.deadletter.>` subject. */
export function readDeadLetter(event: DeliveredEvent<unknown>): DeadLetterInfo | undefined {
  const h = event.headers;
  const originalSubject = h[DEAD_LETTER_HEADERS.subject];
  if (originalSubject === undefined) return undefined;
  return {
    originalSubject,
    originalId: h[DEAD_LETTER_HEADERS.eventId] ?? '',
    consumer: h[DEAD_LETTER_HEADERS.consumer] ?? '',
    deliveries: Number(h[DEAD_LETTER_HEADERS.deliveries] ?? '0'),
    lastError: h[DEAD_LETTER_HEADERS.error] ?? '',
  };
}

/** Header values cannot hold line breaks; long stack-laden messages are cut. */
export function headerSafe(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1024);
}
