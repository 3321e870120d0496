/** One line of a JSONL body with its 1-based number. */
export interface NumberedLine {
  readonly line: number;
  readonly text: string;
}

const NEWLINE = 0x0a;

/**
 * Splits a stream of byte chunks into lines without holding more than the current partial line:
 * a line may span chunks, `\r\n` endings are accepted, and line numbers count every line
 * (blank ones too) so they match what an editor shows.
 */
export async function* jsonlLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<NumberedLine> {
  let pending: Buffer[] = [];
  let line = 0;
  const decode = (parts: Buffer[]): string => {
    const text = Buffer.concat(parts).toString('utf8');
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };
  for await (const chunk of chunks) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      pending.push(bytes.subarray(start, nl));
      line++;
      yield { line, text: decode(pending) };
      pending = [];
      start = nl + 1;
    }
    // Copy the tail: the caller may reuse the chunk's memory once we return.
    if (start < bytes.length) pending.push(Buffer.from(bytes.subarray(start)));
  }
  if (pending.length > 0) {
    line++;
    yield { line, text: decode(pending) };
  }
}
