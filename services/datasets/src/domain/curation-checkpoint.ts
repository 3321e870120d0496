import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Where a long curation loop lets the service breathe: every `every` steps it yields to the
 * event loop (other calls, health checks, the caller's cancellation) and stops with the signal's
 * reason once the call is cancelled. Usage: `if (checkpoint.due()) await checkpoint.pause()`,
 * so that the steps in between cost no promise.
 */
export class Checkpoint {
  private steps = 0;

  constructor(
    private readonly signal?: AbortSignal,
    private readonly every = 4096,
  ) {}

  /** Counts a step; true when it is time to pause. */
  due(): boolean {
    return ++this.steps % this.every === 0;
  }

  /** Yields to the event loop, then throws if the call was cancelled meanwhile. */
  async pause(): Promise<void> {
    await nextTurn();
    this.signal?.throwIfAborted();
  }
}
