import { ROOT_CONTEXT, context, propagation, type Context } from '@opentelemetry/api';

/**
 * Writes the W3C `traceparent`/`tracestate` (and baggage) of `ctx` into `headers` through the
 * registered propagator and returns `headers`. For any transport with string headers (NATS,
 * HTTP, job records in a database).
 */
export function injectTraceHeaders(
  headers: Record<string, string> = {},
  ctx: Context = context.active(),
): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/**
 * The trace context carried by `headers`. It is layered over the root context, not the active
 * one, so that an unrelated active span never becomes the parent when the headers carry none.
 * Use it as the parent: `context.with(extractTraceContext(h), () => ...)`.
 */
export function extractTraceContext(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}
