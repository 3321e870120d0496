import {
  ConsoleSpanExporter,
  BatchSpanProcessor,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { diag } from '@opentelemetry/api';
import { FileSpanExporter } from './file-span-exporter.js';

/** The `OTEL_TRACES_EXPORTER` names that select {@link FileSpanExporter}. */
export const FILE_EXPORTER_NAMES: readonly string[] = ['file', 'lathe-file'];

function envList(value: string | undefined): string[] {
  return [
    ...new Set(
      (value ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    ),
  ];
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The span processors `OTEL_TRACES_EXPORTER` asks for when it names the file exporter (`file` or
 * `lathe-file`); `undefined` otherwise, leaving the choice to the SDK (which does not know that
 * name). With the file exporter the list may also hold `console` and `otlp` (OTLP over
 * HTTP/protobuf to `OTEL_EXPORTER_OTLP_ENDPOINT`, batched as `OTEL_BSP_*` says); `none` wins over
 * everything, as in the SDK. The file is `LATHE_TRACES_FILE` (required).
 *
 * @throws Error when the file exporter is asked for without `LATHE_TRACES_FILE`.
 */
export function spanProcessorsWithFileFromEnv(env: NodeJS.ProcessEnv): SpanProcessor[] | undefined {
  const names = envList(env['OTEL_TRACES_EXPORTER']);
  if (!names.some((name) => FILE_EXPORTER_NAMES.includes(name))) return undefined;
  if (names.includes('none') || env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') {
    return [];
  }
  const path = env['LATHE_TRACES_FILE']?.trim();
  if (path === undefined || path === '') {
    throw new Error(
      `OTEL_TRACES_EXPORTER=${env['OTEL_TRACES_EXPORTER']} needs LATHE_TRACES_FILE (the JSON-lines file spans are appended to)`,
    );
  }
  // `file` and `lathe-file` both in the list still make one exporter.
  const processors: SpanProcessor[] = [
    new SimpleSpanProcessor({ exporter: new FileSpanExporter(path) }),
  ];
  for (const name of names) {
    if (FILE_EXPORTER_NAMES.includes(name)) {
      continue;
    } else if (name === 'console') {
      processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    } else if (name === 'otlp') {
      const protocol =
        env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'];
      if (protocol !== undefined && protocol.trim() !== '' && protocol.trim() !== 'http/protobuf') {
        diag.warn(
          `OTEL_TRACES_EXPORTER with the file exporter sends OTLP as http/protobuf only; ignoring protocol "${protocol}"`,
        );
      }
      processors.push(
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter(),
          maxQueueSize: envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
          scheduledDelayMillis: envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY'),
          exportTimeoutMillis: envNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
          maxExportBatchSize: envNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
        }),
      );
    } else {
      diag.warn(
        `Unsupported exporter name in OTEL_TRACES_EXPORTER: "${name}". Supported values are: otlp, console, file, lathe-file, none.`,
      );
    }
  }
  return processors;
}
