import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode, type Attributes, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** One line of a traces file: a finished span as {@link FileSpanExporter} writes it. */
export interface SpanRecord {
  /** 32 hex digits. */
  readonly traceId: string;
  /** 16 hex digits. */
  readonly spanId: string;
  /** The parent's span id; absent for a root span. */
  readonly parentSpanId?: string;
  /** The span's name. */
  readonly name: string;
  /** `internal`, `server`, `client`, `producer` or `consumer`. */
  readonly kind: string;
  /** The resource's `service.name` of the process that ended the span. */
  readonly serviceName: string;
  /** Start, in nanoseconds since the Unix epoch, as a decimal string (exceeds 2^53). */
  readonly startTimeUnixNano: string;
  /** End, in nanoseconds since the Unix epoch, as a decimal string. */
  readonly endTimeUnixNano: string;
  /** The span's attributes. */
  readonly attributes: Attributes;
  /** `unset`, `ok` or `error`, with the error's message when one was set. */
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message?: string };
  /** The process that wrote the line. */
  readonly pid: number;
}

const kindNames: Record<SpanKind, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

function hrTimeToNanos(time: HrTime): string {
  return (BigInt(time[0]) * 1_000_000_000n + BigInt(time[1])).toString();
}

/** The {@link SpanRecord} of a finished span. */
export function spanToRecord(span: ReadableSpan): SpanRecord {
  const context = span.spanContext();
  const serviceName = span.resource.attributes['service.name'];
  const code =
    span.status.code === SpanStatusCode.ERROR
      ? 'error'
      : span.status.code === SpanStatusCode.OK
        ? 'ok'
        : 'unset';
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    ...(span.parentSpanContext === undefined
      ? {}
      : { parentSpanId: span.parentSpanContext.spanId }),
    name: span.name,
    kind: kindNames[span.kind] ?? String(span.kind),
    serviceName: typeof serviceName === 'string' ? serviceName : '',
    startTimeUnixNano: hrTimeToNanos(span.startTime),
    endTimeUnixNano: hrTimeToNanos(span.endTime),
    attributes: span.attributes,
    status:
      span.status.message === undefined || span.status.message === ''
        ? { code }
        : { code, message: span.status.message },
    pid: process.pid,
  };
}

/**
 * Writes every exported span as one JSON line ({@link SpanRecord}) appended to a file. The file
 * is opened with `O_APPEND` and each line goes out in a single `write`, so several processes can
 * share one file without interleaving lines (on a local file system). Writes are synchronous:
 * a span is on disk (in the page cache) when `export` returns, so a process killed afterwards
 * loses nothing. Use it with a `SimpleSpanProcessor` (what `OTEL_TRACES_EXPORTER=file` does).
 */
export class FileSpanExporter implements SpanExporter {
  private fd: number | undefined;

  /** Opens (creating it and its folder when missing) `path` for appending. */
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }

  /** Appends one line per span; fails the export (without throwing) after shutdown or on I/O errors. */
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const fd = this.fd;
    if (fd === undefined) {
      resultCallback({
        code: ExportResultCode.FAILED,
        error: new Error('file span exporter is shut down'),
      });
      return;
    }
    try {
      for (const span of spans) {
        const line = Buffer.from(`${JSON.stringify(spanToRecord(span))}\n`);
        const written = writeSync(fd, line);
        if (written !== line.length) {
          throw new Error(`short write to ${this.path}: ${written} of ${line.length} bytes`);
        }
      }
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({
        code: ExportResultCode.FAILED,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  /** Nothing is buffered: every line is written during `export`. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Closes the file; later exports fail. */
  shutdown(): Promise<void> {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    return Promise.resolve();
  }
}
