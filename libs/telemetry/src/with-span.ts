import {
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';

/**
 * Runs `fn` inside a new active span named `name`, child of the active context, with
 * `attributes`. A thrown error (or rejected promise) is recorded on the span as an exception, sets
 * its status to ERROR, and is rethrown; the span always ends.
 *
 * @example
 * const loss = await withSpan('train.step', { 'lathe.step': step }, () => runStep(batch));
 */
export function withSpan<R>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => R | Promise<R>,
  options: Omit<SpanOptions, 'attributes'> = {},
): Promise<R> {
  // Looked up per call, not once at import: a tracer taken from the API before the SDK (re)starts
  // would stay bound to the old provider.
  return trace
    .getTracer('@lathe/telemetry')
    .startActiveSpan(name, { ...options, attributes }, async (span) => {
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
    });
}
