import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import type { Context, ContextManager } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { Logger } from './logger.js';

// A synchronous context manager: enough to make a span active without an OpenTelemetry SDK.
class StackContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

describe('Logger', () => {
  afterAll(() => context.disable());

  it('writes one JSON object per line with time, level, service, msg and fields, filtered by level', () => {
    const lines: string[] = [];
    const log = new Logger('datasets', 'info', (l) => lines.push(l)).child({ method: '/x/Y' });
    log.debug('hidden');
    log.warn('slow', { ms: 12 });
    log.error('boom', { error: new Error('disk full', { cause: new Error('ENOSPC') }) });
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['time', 'level', 'service', 'msg', 'fields']);
    expect(first).toMatchObject({
      level: 'warn',
      service: 'datasets',
      msg: 'slow',
      fields: { method: '/x/Y', ms: 12 },
    });
    const second = JSON.parse(lines[1] ?? '') as {
      fields: { error: { message: string; cause: { message: string } } };
    };
    expect(second.fields.error.message).toBe('disk full');
    expect(second.fields.error.cause.message).toBe('ENOSPC');
  });

  it('adds the trace id of the active span', () => {
    context.setGlobalContextManager(new StackContextManager());
    const span = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
    });
    const lines: string[] = [];
    const log = new Logger('training', 'debug', (l) => lines.push(l));
    context.with(trace.setSpan(context.active(), span), () => log.info('in span'));
    log.info('outside');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
    });
    expect(JSON.parse(lines[1] ?? '')).not.toHaveProperty('traceId');
  });
});
