export { startTelemetry, type Telemetry, type TelemetryOptions } from './start-telemetry.js';
export { startInMemoryTelemetry, type InMemoryTelemetry } from './in-memory-telemetry.js';
export { OnDemandMetricReader } from './on-demand-metric-reader.js';
export { INSTRUMENTED_MODULES, registerInstrumentationHooks } from './instrumentation-hooks.js';
export { withSpan } from './with-span.js';
export { extractTraceContext, injectTraceHeaders } from './trace-headers.js';
export { FileSpanExporter, spanToRecord, type SpanRecord } from './file-span-exporter.js';
export { FILE_EXPORTER_NAMES, spanProcessorsWithFileFromEnv } from './file-traces-env.js';
