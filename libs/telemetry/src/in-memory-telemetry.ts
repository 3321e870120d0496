import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { OnDemandMetricReader } from './on-demand-metric-reader.js';
import { startTelemetry, type Telemetry, type TelemetryOptions } from './start-telemetry.js';

/** A started SDK whose spans and metrics stay in memory, for tests. */
export interface InMemoryTelemetry extends Telemetry {
  /**
   * Every span finished so far, in the order they ended. Waits for exports in flight first (the
   * processor defers an export until the resource's asynchronous attributes are known).
   */
  finishedSpans(): Promise<ReadableSpan[]>;
  /** Forgets the finished spans. */
  reset(): void;
  /** Current values of every metric instrument. */
  readMetrics(): Promise<ResourceMetrics>;
}

/**
 * Starts the SDK (gRPC instrumentation included, unless `instrumentations` says otherwise) with
 * spans exported to memory as they end, and metrics read on demand. The `OTEL_*`
 * exporter variables are not consulted.
 *
 * It first unregisters whatever SDK the process registered globally: the API refuses a second
 * registration, and test runners reuse a worker process for several test files, so without
 * this a file would silently keep exporting to the previous file's stopped exporter.
 */
export function startInMemoryTelemetry(
  options: Omit<TelemetryOptions, 'spanProcessors' | 'metricReaders'> = {},
): InMemoryTelemetry {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
  const exporter = new InMemorySpanExporter();
  const reader = new OnDemandMetricReader();
  const processor = new SimpleSpanProcessor({ exporter });
  const telemetry = startTelemetry({
    ...options,
    spanProcessors: [processor],
    metricReaders: [reader],
  });
  return {
    finishedSpans: async () => {
      await processor.forceFlush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
    readMetrics: () => reader.read(),
    shutdown: () => telemetry.shutdown(),
  };
}
