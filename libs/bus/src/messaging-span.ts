import {
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

/**
 * Runs `fn` in a span named and attributed after the OpenTelemetry messaging semantic
 * conventions (`send <subject>` / `process <subject>`). An exception is recorded, sets the status
 * to ERROR and is rethrown.
 */
export function inMessagingSpan<R>(
  operation: 'send' | 'process',
  subject: string,
  attributes: Attributes,
  parent: Context,
  fn: (span: Span) => Promise<R>,
): Promise<R> {
  const kind = operation === 'send' ? SpanKind.PRODUCER : SpanKind.CONSUMER;
  // Looked up per call, not once at import: a tracer taken from the API before the SDK (re)starts
  // would stay bound to the old provider.
  return trace.getTracer('@lathe/bus').startActiveSpan(
    `${operation} ${subject}`,
    {
      kind,
      attributes: {
        'messaging.operation.type': operation,
        'messaging.operation.name': operation === 'send' ? 'publish' : 'process',
        'messaging.destination.name': subject,
        ...attributes,
      },
    },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
