import type { EventEmitter } from 'node:events';
import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
} from '@grpc/grpc-js';

/** Any grpc-js server call object. */
export type AnyServerCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/** The reason a call's signal carries when its deadline passes. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

/**
 * An AbortSignal that fires when the client cancels the call (or the server is force-closed)
 * or when its deadline passes; `release` clears the deadline timer when the call ends.
 */
export function callSignal(call: AnyServerCall): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  // grpc-js cancels a call itself when its deadline passes, often before our timer: tell the two apart.
  const onCancel = (): void =>
    controller.abort(
      Date.now() >= at
        ? new DeadlineExceededError(`call ${call.getPath()} passed its deadline`)
        : new Error(`call ${call.getPath()} was cancelled by the client`),
    );
  // Every call kind is an EventEmitter; the union of their overloads is not callable as such.
  const events: EventEmitter = call;
  events.on('cancelled', onCancel);
  if (Number.isFinite(at)) {
    const ms = Math.max(0, at - Date.now());
    timer = setTimeout(
      () =>
        controller.abort(new DeadlineExceededError(`call ${call.getPath()} passed its deadline`)),
      ms,
    );
  }
  return {
    signal: controller.signal,
    release: () => {
      if (timer !== undefined) clearTimeout(timer);
      events.off('cancelled', onCancel);
    },
  };
}
