import { ROOT_CONTEXT, context, propagation, type Context } from '@opentelemetry/api';

// The bus depends on @opentelemetry/api only: whichever propagator the process registered (the
// SDK's W3C trace context + baggage by default) writes and reads the headers. Without an SDK the
// API's no-op propagator writes nothing, which is the right behaviour for a process without
// tracing.

/** Adds `traceparent`/`tracestate` for `ctx` to a copy of `headers`. */
export function withTraceHeaders(
  headers: Readonly<Record<string, string>>,
  ctx: Context = context.active(),
): Record<string, string> {
  const out: Record<string, string> = { ...headers };
  propagation.inject(ctx, out);
  return out;
}

/** The publisher's context carried by `headers`, layered over the root context so that whatever span happens to be active in the consumer never becomes the parent. */
export function publisherContext(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}
