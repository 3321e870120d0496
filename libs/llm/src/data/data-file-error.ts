/**
 * A training or evaluation data file that cannot be used, naming the file, the line and the reason:
 * `data.jsonl: line 17: not valid JSON (Unexpected token)`.
 */
export class DataFileError extends Error {
  /** The data file. */
  readonly path: string;
  /** 1-based line of the first offending record, when known. */
  readonly line: number | undefined;

  /**
   * @param path the data file
   * @param line 1-based line number, when the problem is tied to a record
   * @param reason what is wrong
   */
  constructor(
    path: string,
    line: number | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${line === undefined ? '' : `line ${line}: `}${reason}`, options);
    this.name = 'DataFileError';
    this.path = path;
    this.line = line;
  }
}
