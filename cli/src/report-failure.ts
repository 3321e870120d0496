/** Known failures print as one line `lathe: <file>: <reason>`; anything else also prints its stack when LATHE_DEBUG is set. */
export function reportFailure(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lathe: ${message.split('\n')[0] ?? message}\n`);
  if (process.env['LATHE_DEBUG'] !== undefined && err instanceof Error && err.stack !== undefined) {
    process.stderr.write(`${err.stack}\n`);
  }
  return 1;
}
