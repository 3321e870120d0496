import type { ByteSource } from './artifact-store.js';

/**
 * Iterates a {@link ByteSource} chunk by chunk, refusing text: a stream with an encoding set
 * yields strings, and hashing those would store something other than the bytes meant.
 */
export async function* byteChunks(source: ByteSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source as AsyncIterable<unknown>) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(
        `artifact source yielded a ${typeof chunk}, not bytes; do not set an encoding on the stream`,
      );
    }
    yield chunk;
  }
}
