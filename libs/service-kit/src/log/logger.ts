import { trace } from '@opentelemetry/api';
import type { LogLevel } from '../config/service-config.js';

const SEVERITY: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured context attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where log lines go; stdout by default, a buffer in tests. */
export type LogSink = (line: string) => void;

/**
 * A structured logger: one JSON object per line with `time`, `level`, `service`, `msg`,
 * `fields` and, when an OpenTelemetry span is active, `traceId` and `spanId`.
 */
export class Logger {
  constructor(
    private readonly service: string,
    private readonly level: LogLevel = 'info',
    private readonly sink: LogSink = (line) => process.stdout.write(`${line}\n`),
    private readonly bound: LogFields = {},
  ) {}

  /** A logger that adds `fields` to every line (e.g. the rpc method). */
  child(fields: LogFields): Logger {
    return new Logger(this.service, this.level, this.sink, { ...this.bound, ...fields });
  }

  /** Logs at debug. */
  debug(msg: string, fields: LogFields = {}): void {
    this.write('debug', msg, fields);
  }
  /** Logs at info. */
  info(msg: string, fields: LogFields = {}): void {
    this.write('info', msg, fields);
  }
  /** Logs at warn. */
  warn(msg: string, fields: LogFields = {}): void {
    this.write('warn', msg, fields);
  }
  /** Logs at error. */
  error(msg: string, fields: LogFields = {}): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields: LogFields): void {
    if (SEVERITY[level] < SEVERITY[this.level]) return;
    const line: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      service: this.service,
      msg,
      fields: serializable({ ...this.bound, ...fields }),
    };
    const span = trace.getActiveSpan();
    if (span !== undefined) {
      const ctx = span.spanContext();
      line['traceId'] = ctx.traceId;
      line['spanId'] = ctx.spanId;
    }
    this.sink(JSON.stringify(line));
  }
}

// Errors have no enumerable properties, so JSON.stringify would log `{}`: spell them out.
function serializable(fields: LogFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? describeError(v) : v;
  return out;
}

function describeError(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: error.name,
    message: error.message,
    stack: error.stack,
  };
  if (error.cause !== undefined)
    out['cause'] =
      error.cause instanceof Error ? describeError(error.cause) : JSON.stringify(error.cause);
  return out;
}
