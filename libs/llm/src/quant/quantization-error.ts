/**
 * A tensor, model or setting that cannot be quantized (or read back) as asked, with the thing at
 * fault and the reason. `field` names the offending setting for invalid options, so a service can
 * map it to INVALID_ARGUMENT with a BadRequest field violation.
 */
export class QuantizationError extends Error {
  override readonly name = 'QuantizationError';
  /** What is at fault: a tensor name, a model directory, or a setting such as `blockSize`. */
  readonly subject: string;
  /** Why, without the subject. */
  readonly reason: string;
  /** The configuration field at fault when the error is an invalid option. */
  readonly field: string | undefined;

  constructor(subject: string, reason: string, options?: { cause?: unknown; field?: string }) {
    super(`${subject}: ${reason}`, options);
    this.subject = subject;
    this.reason = reason;
    this.field = options?.field;
  }
}
