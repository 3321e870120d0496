import { DataFileError, parseDataText } from '@lathe/llm';
import { jsonlLines } from './jsonl-lines.js';

/** One record of an upload body: its line, a text excerpt, and its parsed value or why not. */
export type SourceLine =
  | { readonly line: number; readonly text: string; readonly ok: true; readonly value: unknown }
  | { readonly line: number; readonly text: string; readonly ok: false; readonly reason: string };

/** The largest JSON-array body accepted: arrays are parsed whole, JSONL streams. */
export const MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024;

/** A JSON-array body that cannot be used as a whole (malformed or too large). */
export class JsonArrayBodyError extends Error {
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
    this.name = 'JsonArrayBodyError';
  }
}

function firstNonSpace(bytes: Uint8Array): number | undefined {
  for (const b of bytes) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b;
  return undefined;
}

/**
 * The records of a body, JSON Lines or one JSON array, told apart by the first non-blank byte as
 * `@lathe/llm`'s `readDataFile` does. JSONL is streamed line by line (blank lines skipped, bad
 * JSON reported per line); an array is parsed whole by `@lathe/llm`'s `parseDataText`, up to
 * {@link MAX_JSON_ARRAY_BYTES}, each element numbered by the line it starts on.
 *
 * @throws JsonArrayBodyError when an array body is malformed or too large
 */
export async function* sourceLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SourceLine> {
  const it = chunks[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let first: number | undefined;
  while (first === undefined) {
    const next = await it.next();
    if (next.done === true) break;
    head.push(next.value);
    first = firstNonSpace(next.value);
  }
  async function* all(): AsyncGenerator<Uint8Array> {
    yield* head;
    for (;;) {
      const next = await it.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  if (first === 0x5b /* [ */) {
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of all()) {
      size += chunk.byteLength;
      if (size > MAX_JSON_ARRAY_BYTES)
        throw new JsonArrayBodyError(
          `a JSON array body is parsed whole and may be at most ${MAX_JSON_ARRAY_BYTES} bytes; send JSON Lines instead`,
          undefined,
        );
      parts.push(chunk);
    }
    let parsed;
    try {
      parsed = parseDataText(Buffer.concat(parts).toString('utf8'), 'upload');
    } catch (error) {
      if (error instanceof DataFileError) throw new JsonArrayBodyError(error.message, error.line);
      throw error;
    }
    for (const r of parsed.records)
      yield { line: r.line, text: JSON.stringify(r.value) ?? '', ok: true, value: r.value };
    return;
  }
  for await (const { line, text } of jsonlLines(all())) {
    if (text.trim() === '') continue;
    try {
      yield { line, text, ok: true, value: JSON.parse(text) as unknown };
    } catch (cause) {
      yield { line, text, ok: false, reason: `not valid JSON (${(cause as Error).message})` };
    }
  }
}
