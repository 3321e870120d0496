import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { startNodeSdk } from '@opentelemetry/sdk-node';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Attributes } from '@opentelemetry/api';
import { spanProcessorsWithFileFromEnv } from './file-traces-env.js';

/** Options for {@link startTelemetry}; everything left out comes from the `OTEL_*` variables. */
export interface TelemetryOptions {
  /**
   * `service.name`; overrides `OTEL_SERVICE_NAME`. Default: `OTEL_SERVICE_NAME`, else the SDK's
   * `unknown_service:node`.
   */
  readonly serviceName?: string;
  /** More resource attributes (over `OTEL_RESOURCE_ATTRIBUTES`). */
  readonly resourceAttributes?: Attributes;
  /**
   * Span processors. Default: from `OTEL_TRACES_EXPORTER` (`otlp` by default, `console`, `none`,
   * and Lathe's `file` / `lathe-file`: JSON lines appended to `LATHE_TRACES_FILE`) with a batch
   * processor tuned by `OTEL_BSP_*`. Pass an empty array to disable tracing.
   */
  readonly spanProcessors?: SpanProcessor[];
  /**
   * Metric readers. Default: from `OTEL_METRICS_EXPORTER` (`otlp` by default, `console`,
   * `prometheus`, `none`). Pass an empty array to disable metrics.
   */
  readonly metricReaders?: IMetricReader[];
  /** Instrumentations. Default: gRPC (`@grpc/grpc-js` clients and servers). */
  readonly instrumentations?: Instrumentation[];
}

/** A started SDK. */
export interface Telemetry {
  /** Flushes pending spans and metrics and stops exporting. Call before the process exits. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK for this process: traces, metrics, W3C trace-context
 * propagation, gRPC instrumentation, OTLP export configured by the standard variables
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, ...).
 *
 * Ordering matters: instrumentations patch modules as they are loaded, so `@grpc/grpc-js` must
 * be imported after this call (and after {@link registerInstrumentationHooks} for ESM imports).
 * The simplest way is `node --import @lathe/telemetry/register main.js`.
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  const resourceAttributes: Attributes = { ...options.resourceAttributes };
  if (options.serviceName !== undefined) resourceAttributes['service.name'] = options.serviceName;
  const spanProcessors = options.spanProcessors ?? spanProcessorsWithFileFromEnv(process.env);
  const sdk = startNodeSdk({
    resourceAttributes,
    instrumentations: options.instrumentations ?? [new GrpcInstrumentation()],
    ...(spanProcessors === undefined ? {} : { spanProcessors }),
    ...(options.metricReaders === undefined ? {} : { metricReaders: options.metricReaders }),
  });
  return { shutdown: () => sdk.shutdown() };
}
