import { status as GrpcStatus } from '@grpc/grpc-js';
import { isLatheError, LatheError } from '../errors/lathe-error.js';
import type { Logger } from '../log/logger.js';
import { DeadlineExceededError } from './call-signal.js';

/**
 * The single place where anything a handler throws becomes what the caller sees: a LatheError
 * passes (stamped with the service's domain); an abort after the deadline or a cancel becomes
 * DEADLINE_EXCEEDED / CANCELLED; everything else is logged with its cause and sent as a bare
 * INTERNAL, so internals (SQL, paths, stack traces) never leave the process.
 */
export function toWireError(
  thrown: unknown,
  signal: AbortSignal,
  domain: string,
  log: Logger,
): LatheError {
  if (isLatheError(thrown)) return thrown.withDefaultDomain(domain);
  if (signal.aborted) {
    const deadline = signal.reason instanceof DeadlineExceededError;
    const code = deadline ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.CANCELLED;
    const message = deadline
      ? 'deadline exceeded while the call was being handled'
      : 'call cancelled';
    return new LatheError(
      code,
      message,
      { errorInfo: { reason: GrpcStatus[code], domain, metadata: {} } },
      thrown,
    );
  }
  log.error('handler failed unexpectedly', {
    error: thrown instanceof Error ? thrown : new Error(String(thrown)),
  });
  return LatheError.internal(thrown, { domain });
}
