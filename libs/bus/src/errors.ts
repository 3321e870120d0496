/**
 * Raised by the bus for invalid names and options, and for operations the broker refused. The
 * message names the thing (subject, stream, consumer) and the reason.
 */
export class BusError extends Error {
  /** Constructs the error; `cause` keeps the underlying client or broker error. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
  }
}
