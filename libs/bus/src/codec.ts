/**
 * How an event's message becomes bytes and back. The shape is the one `ts-proto` generates for
 * every message (`Foo.encode(msg).finish()`, `Foo.decode(bytes)`), so a generated message object
 * is a codec as it is, and the bus never depends on the contracts package.
 */
export interface EventCodec<T> {
  /** Serialises a message; the bus calls `.finish()` on the result to get the bytes. */
  encode(message: T): { finish(): Uint8Array };
  /** Parses bytes written by {@link EventCodec.encode}; throws on malformed input. */
  decode(bytes: Uint8Array): T;
}

/**
 * A codec that passes bytes through untouched: for dead-letter tooling and tests that want to see
 * exactly what travelled.
 */
export const rawBytesCodec: EventCodec<Uint8Array> = {
  encode: (message) => ({ finish: () => message }),
  decode: (bytes) => bytes,
};
