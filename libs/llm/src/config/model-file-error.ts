/**
 * A model file (config.json, *.safetensors, tokenizer.json, ...) that cannot be used, with the
 * file's path and the reason, so a command line can print it as one line:
 * `lathe: <file>: <reason>`.
 */
export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
  /** The file that is at fault. */
  readonly file: string;
  /** What is wrong with it, without the file name. */
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, options);
    this.file = file;
    this.reason = reason;
  }
}
