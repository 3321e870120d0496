import type { RetryBackoff } from './event-bus.js';
import { BusError } from './errors.js';

/** The delay before redelivering an event that failed on delivery number `deliveryCount`. */
export function backoffDelayMs(backoff: RetryBackoff | undefined, deliveryCount: number): number {
  const initialMs = backoff?.initialMs ?? 1000;
  const factor = backoff?.factor ?? 2;
  const maxMs = backoff?.maxMs ?? 60_000;
  if (initialMs < 0 || factor < 1 || maxMs < initialMs) {
    throw new BusError(`invalid backoff: need initialMs >= 0, factor >= 1, maxMs >= initialMs`);
  }
  return Math.min(maxMs, initialMs * factor ** Math.max(0, deliveryCount - 1));
}
